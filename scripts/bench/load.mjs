// The load generator of `npm run bench`'s HTTP section, in a process of its own so that its CPU is
// not the bench's: autocannon against one route for a fixed time, the figures printed as one JSON
// line. Config (argv[2], JSON): { url, method, seconds | amount, connections, keys?, bodies?, forwardedFor? }
// (`amount`: that many requests, then stop; else `seconds` of load).
// With `keys`, connection i sends `Authorization: Bearer keys[i % keys.length]` and cycles through
// `bodies` (one wallet per connection: a key's calls are sequential, as one client's are).
import autocannon from "autocannon";

const config = JSON.parse(process.argv[2]);
const baseHeaders = { "content-type": "application/json", "x-forwarded-for": config.forwardedFor ?? "10.9.9.9" };
let connection = 0;
const statuses = {};

const result = await autocannon({
  url: config.url,
  method: config.method ?? "GET",
  connections: config.connections,
  ...(config.amount ? { amount: config.amount } : { duration: config.seconds }),
  headers: baseHeaders,
  setupClient(client) {
    const index = connection++;
    const headers = config.keys ? { ...baseHeaders, authorization: `Bearer ${config.keys[index % config.keys.length]}` } : baseHeaders;
    const bodies = config.bodies ?? [undefined];
    // Each connection starts at its own body, so that neighbours do not pay the same agent at once.
    const requests = bodies
      .map((_, i) => bodies[(index + i) % bodies.length])
      .map((body) => ({ method: config.method ?? "GET", headers, body: body && JSON.stringify(body) }));
    client.setRequests(requests);
    client.on("response", (statusCode) => {
      statuses[statusCode] = (statuses[statusCode] ?? 0) + 1;
    });
  },
});

console.log(
  JSON.stringify({
    requests: result.requests.total,
    seconds: result.duration,
    perSecond: result.requests.total / result.duration,
    p50: result.latency.p50,
    p99: result.latency.p99,
    mean: result.latency.average,
    statuses,
    errors: result.errors,
    timeouts: result.timeouts,
  }),
);

// The load generator of `npm run bench`'s HTTP section, in a process of its own so that its CPU is
// not the bench's: autocannon against one route for a fixed time, the figures printed as one JSON
// line, the generator's own CPU seconds over the run among them.
// Config (argv[2], JSON): { url, method, seconds | amount, connections, keys?, bodies?, forwardedFor? }
// (`amount`: that many requests, then stop; else `seconds` of load).
// With `keys`, every key belongs to one connection (a key's calls are sequential, as one client's
// are): connection i has keys i, i + connections, i + 2 × connections… (keys[i % keys.length] when
// there are fewer keys than connections), and cycles through `bodies` with each of its keys in turn.
import autocannon from "autocannon";

const config = JSON.parse(process.argv[2]);
const baseHeaders = { "content-type": "application/json", "x-forwarded-for": config.forwardedFor ?? "10.9.9.9" };
let connection = 0;
const statuses = {};
// The load generator's own CPU over the run: the machine's other big consumer besides the server.
const cpuBefore = process.cpuUsage();

const result = await autocannon({
  url: config.url,
  method: config.method ?? "GET",
  connections: config.connections,
  ...(config.amount ? { amount: config.amount } : { duration: config.seconds }),
  headers: baseHeaders,
  setupClient(client) {
    const index = connection++;
    const keys = !config.keys
      ? [null]
      : config.keys.length <= config.connections
        ? [config.keys[index % config.keys.length]]
        : config.keys.filter((_, k) => k % config.connections === index);
    const bodies = config.bodies ?? [undefined];
    // Each connection starts at its own body, so that neighbours do not pay the same agent at once.
    const requests = keys.flatMap((key) => {
      const headers = key ? { ...baseHeaders, authorization: `Bearer ${key}` } : baseHeaders;
      return bodies
        .map((_, i) => bodies[(index + i) % bodies.length])
        .map((body) => ({ method: config.method ?? "GET", headers, body: body && JSON.stringify(body) }));
    });
    client.setRequests(requests);
    client.on("response", (statusCode) => {
      statuses[statusCode] = (statuses[statusCode] ?? 0) + 1;
    });
  },
});

const cpu = process.cpuUsage(cpuBefore);
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
    cpuSeconds: (cpu.user + cpu.system) / 1e6,
  }),
);

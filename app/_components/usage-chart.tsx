import { microToUsd } from "@/lib/money/units";

export interface DayAgentUsage {
  day: string;
  agent_name: string | null;
  agent_id: string;
  calls: number;
  developer_cost_micro: number;
}

const PALETTE = ["#1d4ed8", "#b45309", "#047857", "#7c3aed", "#be123c", "#0e7490"];

/**
 * Calls per day for the last 30 days, stacked by agent, drawn on the server from the usage rows.
 * The same numbers are in a table beside it, for screen readers and for anyone who wants them exact.
 */
export function UsageChart({ rows, days }: { rows: DayAgentUsage[]; days: string[] }) {
  const agents = [...new Set(rows.map((row) => row.agent_name ?? row.agent_id))].sort();
  const color = (agent: string) => PALETTE[agents.indexOf(agent) % PALETTE.length]!;
  const perDay = days.map((day) => {
    const entries = rows.filter((row) => row.day === day);
    return {
      day,
      entries,
      calls: entries.reduce((sum, row) => sum + row.calls, 0),
      spend: entries.reduce((sum, row) => sum + row.developer_cost_micro, 0),
    };
  });
  const max = Math.max(1, ...perDay.map((day) => day.calls));
  const maxSpend = Math.max(1, ...perDay.map((day) => day.spend));
  const width = 720;
  const height = 200;
  const barWidth = width / days.length;

  return (
    <figure aria-labelledby="usage-chart-caption">
      <svg
        viewBox={`0 0 ${width} ${height + 24}`}
        role="img"
        aria-labelledby="usage-chart-title"
        style={{ width: "100%", maxWidth: width }}
      >
        <title id="usage-chart-title">Calls per day over the last 30 days by agent (bars), and spend per day (line)</title>
        <line x1={0} y1={height} x2={width} y2={height} stroke="#6b7280" />
        {perDay.map((day, index) => {
          let y = height;
          return (
            <g key={day.day} data-testid="chart-day" data-day={day.day} data-calls={day.calls} data-spend-micro={day.spend}>
              <title>{`${day.day}: ${day.calls} calls, $${microToUsd(day.spend)}`}</title>
              {day.entries.map((entry) => {
                const h = (entry.calls / max) * (height - 10);
                y -= h;
                const agent = entry.agent_name ?? entry.agent_id;
                return <rect key={agent} x={index * barWidth + 2} y={y} width={barWidth - 4} height={h} fill={color(agent)} />;
              })}
              {index % 5 === 0 && (
                <text x={index * barWidth + 2} y={height + 16} fontSize={10} fill="#374151">
                  {day.day.slice(5)}
                </text>
              )}
            </g>
          );
        })}
        <polyline
          fill="none"
          stroke="#111827"
          strokeWidth={2}
          strokeDasharray="4 3"
          points={perDay
            .map((day, index) => `${index * barWidth + barWidth / 2},${height - (day.spend / maxSpend) * (height - 10)}`)
            .join(" ")}
        />
      </svg>
      <figcaption id="usage-chart-caption">
        Calls per day (bars, last 30 days, UTC) and spend per day (dashed line, up to $
        {microToUsd(Math.max(0, ...perDay.map((day) => day.spend)))}).{" "}
        {agents.map((agent) => (
          <span key={agent} style={{ marginRight: "1rem" }}>
            <span aria-hidden="true" style={{ display: "inline-block", width: 10, height: 10, background: color(agent), marginRight: 4 }} />
            {agent}
          </span>
        ))}
      </figcaption>
      <details>
        <summary>Data table</summary>
        <table>
          <thead>
            <tr>
              <th scope="col">Day</th>
              <th scope="col">Agent</th>
              <th scope="col">Calls</th>
              <th scope="col">Spend (USD)</th>
            </tr>
          </thead>
          <tbody>
            {rows.map((row) => (
              <tr key={`${row.day}-${row.agent_id}`}>
                <td>{row.day}</td>
                <td>{row.agent_name ?? row.agent_id}</td>
                <td>{row.calls}</td>
                <td>{microToUsd(row.developer_cost_micro)}</td>
              </tr>
            ))}
          </tbody>
        </table>
      </details>
    </figure>
  );
}

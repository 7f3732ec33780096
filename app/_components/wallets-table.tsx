import type { KeyView } from "@/lib/keys/schemas";
import { KeyStatus } from "./key-status";

/** Keys with their wallets and balances, as the dashboard and the operator console list them. */
export function WalletsTable({ keys, rowTestId }: { keys: KeyView[]; rowTestId: string }) {
  return (
    <table>
      <thead>
        <tr>
          <th scope="col">Key</th>
          <th scope="col">Status</th>
          <th scope="col">Wallet</th>
          <th scope="col">USDC</th>
          <th scope="col">SOL</th>
        </tr>
      </thead>
      <tbody>
        {keys.map((key) => (
          <tr key={key.id} data-testid={rowTestId}>
            <td>
              {key.name} <span className="mono">{key.prefix}…</span>
            </td>
            <td>
              <KeyStatus keyView={key} />
            </td>
            <td className="mono">{key.wallet.public_key}</td>
            <td>{key.wallet.usdc}</td>
            <td>{key.wallet.sol}</td>
          </tr>
        ))}
      </tbody>
    </table>
  );
}

import { upgradeAction } from "@/app/actions";

/** The upgrade button: a plain form, so it works without JavaScript too. */
export function UpgradeForm({ tier }: { tier: "free" | "paid" | "pro" }) {
  if (tier === "pro") return null;
  const next = tier === "free" ? "paid" : "pro";
  return (
    <form action={upgradeAction}>
      <input type="hidden" name="tier" value={next} />
      <button type="submit">
        {next === "paid" ? "Upgrade to paid (pay per call, 1,000 calls/min)" : "Upgrade to pro (10,000 calls/min)"}
      </button>
    </form>
  );
}

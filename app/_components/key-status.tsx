import type { KeyView } from "@/lib/keys/keys";

/** A key's status, with why it is suspended when it is. */
export function KeyStatus({ keyView }: { keyView: Pick<KeyView, "status" | "suspended_reason"> }) {
  return (
    <>
      {keyView.status}
      {keyView.suspended_reason && <span className="muted"> ({keyView.suspended_reason.replace("_", " ")})</span>}
    </>
  );
}

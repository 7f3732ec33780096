"use client";

import { useActionState } from "react";
import {
  type AccountFormState,
  changePasswordAction,
  deleteAccountAction,
  requestPasswordResetAction,
  resetPasswordAction,
} from "@/app/actions";

function FormErrors({ id, state }: { id: string; state: AccountFormState | null }) {
  if (!state?.error) return null;
  return (
    <p id={id} role="alert" className="error">
      {state.error}
    </p>
  );
}

function Field(props: {
  id: string;
  label: string;
  name: string;
  type?: string;
  autoComplete?: string;
  errors?: string[];
  defaultValue?: string;
}) {
  const errorId = `${props.id}-error`;
  return (
    <label>
      {props.label}
      <input
        id={props.id}
        name={props.name}
        type={props.type ?? "password"}
        autoComplete={props.autoComplete}
        required
        defaultValue={props.defaultValue}
        aria-invalid={props.errors?.length ? true : undefined}
        aria-describedby={props.errors?.length ? errorId : undefined}
      />
      {props.errors?.length ? (
        <span id={errorId} className="field-error">
          {props.errors.join(" ")}
        </span>
      ) : null}
    </label>
  );
}

export function ChangePasswordForm() {
  const [state, formAction, pending] = useActionState<AccountFormState | null, FormData>(changePasswordAction, null);
  return (
    <form action={formAction} className="stack" noValidate>
      <FormErrors id="password-form-error" state={state} />
      {state?.ok && (
        <p role="status" className="notice">
          Your password is changed. Every other session has been logged out.
        </p>
      )}
      <Field
        id="current-password"
        label="Current password"
        name="current_password"
        autoComplete="current-password"
        errors={state?.fields?.current_password}
      />
      <Field id="new-password" label="New password" name="new_password" autoComplete="new-password" errors={state?.fields?.new_password} />
      <button type="submit" disabled={pending}>
        Change password
      </button>
    </form>
  );
}

export function DeleteAccountForm() {
  const [state, formAction, pending] = useActionState<AccountFormState | null, FormData>(deleteAccountAction, null);
  return (
    <form action={formAction} className="stack" noValidate>
      <FormErrors id="delete-form-error" state={state} />
      <Field
        id="delete-password"
        label="Your password, to confirm"
        name="password"
        autoComplete="current-password"
        errors={state?.fields?.password}
      />
      <button type="submit" className="danger" disabled={pending}>
        Delete my account
      </button>
    </form>
  );
}

export function ForgotPasswordForm() {
  const [state, formAction, pending] = useActionState<AccountFormState | null, FormData>(requestPasswordResetAction, null);
  if (state?.ok)
    return (
      <p role="status" className="notice" data-testid="reset-requested">
        If an account has this email, a link to reset its password is on its way. It works once, for one hour.
      </p>
    );
  return (
    <form action={formAction} className="stack" noValidate>
      <FormErrors id="forgot-form-error" state={state} />
      <Field id="forgot-email" label="Email" name="email" type="email" autoComplete="email" errors={state?.fields?.email} />
      <button type="submit" disabled={pending}>
        Send me a reset link
      </button>
    </form>
  );
}

export function ResetPasswordForm({ token }: { token: string }) {
  const [state, formAction, pending] = useActionState<AccountFormState | null, FormData>(resetPasswordAction, null);
  return (
    <form action={formAction} className="stack" noValidate>
      <FormErrors id="reset-form-error" state={state} />
      <input type="hidden" name="token" value={token} />
      <Field
        id="reset-new-password"
        label="New password"
        name="new_password"
        autoComplete="new-password"
        errors={state?.fields?.new_password}
      />
      <button type="submit" disabled={pending}>
        Set new password
      </button>
    </form>
  );
}

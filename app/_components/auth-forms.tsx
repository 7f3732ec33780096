"use client";

import { useActionState } from "react";
import { logInAction, signUpAction, type FormState } from "@/app/actions";

function FieldError({ id, messages }: { id: string; messages?: string[] }) {
  if (!messages?.length) return null;
  return (
    <span id={id} className="field-error">
      {messages.join(" ")}
    </span>
  );
}

function CredentialsForm({ mode, action, defaultEmail }: { mode: "signup" | "login"; action: typeof signUpAction; defaultEmail?: string }) {
  const [state, formAction, pending] = useActionState<FormState | null, FormData>(action, null);
  const emailError = state?.fields?.email;
  const passwordError = state?.fields?.password;
  return (
    <form action={formAction} className="stack" noValidate aria-describedby={state?.error ? `${mode}-error` : undefined}>
      {state?.error && (
        <p id={`${mode}-error`} role="alert" className="error">
          {state.error}
        </p>
      )}
      <label>
        Email
        <input
          type="email"
          name="email"
          autoComplete="email"
          required
          defaultValue={state?.email ?? defaultEmail}
          aria-invalid={emailError ? true : undefined}
          aria-describedby={emailError ? `${mode}-email-error` : undefined}
        />
        <FieldError id={`${mode}-email-error`} messages={emailError} />
      </label>
      <label>
        Password
        <input
          type="password"
          name="password"
          autoComplete={mode === "signup" ? "new-password" : "current-password"}
          required
          minLength={mode === "signup" ? 10 : undefined}
          aria-invalid={passwordError ? true : undefined}
          aria-describedby={passwordError ? `${mode}-password-error` : mode === "signup" ? "password-rules" : undefined}
        />
        {mode === "signup" && (
          <span id="password-rules" className="muted">
            At least 10 characters, letters mixed with digits or symbols.
          </span>
        )}
        <FieldError id={`${mode}-password-error`} messages={passwordError} />
      </label>
      <button type="submit" disabled={pending}>
        {mode === "signup" ? "Create account" : "Log in"}
      </button>
    </form>
  );
}

export function SignUpForm() {
  return <CredentialsForm mode="signup" action={signUpAction} />;
}

export function LogInForm({ defaultEmail }: { defaultEmail?: string }) {
  return <CredentialsForm mode="login" action={logInAction} defaultEmail={defaultEmail} />;
}

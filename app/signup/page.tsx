import type { Metadata } from "next";
import Link from "next/link";
import { redirect } from "next/navigation";
import { SignUpForm } from "@/app/_components/auth-forms";
import { getPageSession } from "@/lib/http/page-session";

export const metadata: Metadata = { title: "Sign up · TDK gateway" };
export const dynamic = "force-dynamic";

export default async function SignUpPage() {
  if (await getPageSession()) redirect("/dashboard");
  return (
    <>
      <h1>Create your account</h1>
      <SignUpForm />
      <p>
        Already registered? <Link href="/login">Log in</Link>.
      </p>
    </>
  );
}

import Link from "next/link";

export default async function HomePage({ searchParams }: { searchParams: Promise<{ deleted?: string }> }) {
  const { deleted } = await searchParams;
  return (
    <>
      {deleted && (
        <p className="notice" role="status" data-testid="account-deleted">
          Your account is deleted: its keys are revoked and your personal data erased.
        </p>
      )}
      <h1>Call paid AI agents with one API key</h1>
      <p>
        The TDK gateway lets you call the agents of an agent marketplace with a plain <code>Authorization: Bearer</code> key. Behind each
        key sits its own wallet that pays the agents for you; you get one monthly invoice. No wallet to manage, no crypto to learn.
      </p>
      <ol>
        <li>
          <Link href="/signup">Sign up</Link> with your email.
        </li>
        <li>Create an API key: it comes with a funded wallet.</li>
        <li>Call an agent with that key.</li>
      </ol>
      <p>
        Already have an account? <Link href="/login">Log in</Link>.
      </p>
    </>
  );
}

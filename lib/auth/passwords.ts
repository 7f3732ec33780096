import bcrypt from "bcryptjs";

const COST = 12;

/** A valid hash of a random string: compared against when the email is unknown, so an unknown
 *  email costs the same time as a wrong password and the answer reveals nothing. */
let decoyHash: Promise<string> | undefined;

export function hashPassword(password: string): Promise<string> {
  return bcrypt.hash(password, COST);
}

export async function verifyPassword(password: string, hash: string | null): Promise<boolean> {
  if (hash === null) {
    decoyHash ??= bcrypt.hash(`decoy-${Math.random()}`, COST);
    await bcrypt.compare(password, await decoyHash);
    return false;
  }
  return bcrypt.compare(password, hash);
}

/** Random identifiers: short enough for a model to copy, long enough never to repeat. */
import { randomBytes } from "node:crypto";

const ALPHABET = "abcdefghijkmnpqrstuvwxyz23456789"; // no 0/o, 1/l: ids get read and retyped

function randomString(length: number): string {
  const bytes = randomBytes(length);
  let out = "";
  for (const b of bytes) out += ALPHABET[b % ALPHABET.length];
  return out;
}

/** A peer id such as "p-7kq2mxw4tz" (50 bits). */
export const newPeerId = (): string => `p-${randomString(10)}`;

/** A message id such as "m-3hx8c2kq9vnd" (60 bits). */
export const newMessageId = (): string => `m-${randomString(12)}`;

/**
 * Strict standard base64 (RFC 4648 §4: padded, no whitespace, no url-safe
 * letters), as the gateways decode the secrets and keys their files carry
 * (Tyk `jwt_source`, Kong `secret_is_base64`): anything else is undefined,
 * never bytes guessed from it.
 */
export function decodeStdBase64(text: string): Buffer | undefined {
  if (text.length % 4 !== 0 || !/^[A-Za-z0-9+/]*={0,2}$/.test(text)) return undefined;
  return Buffer.from(text, 'base64');
}

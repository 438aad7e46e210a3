#!/usr/bin/env node
// Mint an HS256 JWT for trying the worker locally.
//   node scripts/token.mjs --sub alice [--jti X] [--ttl 600] [--roles a,b] [--secret S]
//                          [--iss URL] [--aud A[,B]] [--alg HS256|HS384|HS512]
// The secret is --secret, else $JWT_SECRET, else the `npm run dev` demo key.
import { parseArgs } from 'node:util';
import { randomUUID } from 'node:crypto';
import { SignJWT } from 'jose';

export const DEMO_SECRET = 'dev-secret-change-me-at-least-32-bytes';

const usage = `usage: node scripts/token.mjs --sub SUBJECT [--jti ID] [--ttl SECONDS] [--roles a,b]
                              [--secret S] [--iss ISSUER] [--aud A[,B]] [--alg HS256|HS384|HS512]
Prints an HMAC-signed JWT. Secret: --secret, else $JWT_SECRET, else "${DEMO_SECRET}".`;

let values;
try {
  ({ values } = parseArgs({
    options: {
      sub: { type: 'string' },
      jti: { type: 'string' },
      ttl: { type: 'string', default: '600' },
      roles: { type: 'string' },
      secret: { type: 'string' },
      iss: { type: 'string' },
      aud: { type: 'string' },
      alg: { type: 'string', default: 'HS256' },
      help: { type: 'boolean', short: 'h' },
    },
    strict: true,
  }));
} catch (e) {
  console.error(`${e.message}\n${usage}`);
  process.exit(2);
}
if (values.help) {
  console.log(usage);
  process.exit(0);
}
if (!values.sub) {
  console.error(`--sub is required\n${usage}`);
  process.exit(2);
}
const ttl = Number(values.ttl);
if (!Number.isInteger(ttl)) {
  console.error(`--ttl must be an integer number of seconds\n${usage}`);
  process.exit(2);
}
if (!/^HS(256|384|512)$/.test(values.alg)) {
  console.error(`--alg must be HS256, HS384 or HS512\n${usage}`);
  process.exit(2);
}

const secret = values.secret ?? process.env.JWT_SECRET ?? DEMO_SECRET;
const iat = Math.floor(Date.now() / 1000);
const claims = { sub: values.sub, iat, exp: iat + ttl, jti: values.jti ?? randomUUID() };
if (values.roles !== undefined) claims.roles = values.roles.split(',').map((s) => s.trim()).filter(Boolean);
const iss = values.iss ?? process.env.JWT_ISSUER;
if (iss) claims.iss = iss;
const audText = values.aud ?? process.env.JWT_AUDIENCE;
if (audText) {
  const aud = audText.split(',').map((s) => s.trim()).filter(Boolean);
  claims.aud = aud.length === 1 ? aud[0] : aud;
}

const token = await new SignJWT(claims)
  .setProtectedHeader({ alg: values.alg, typ: 'JWT' })
  .sign(new TextEncoder().encode(secret));
process.stdout.write(token + '\n');

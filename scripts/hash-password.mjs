#!/usr/bin/env node
// Prints a `basic-auth` credential hash: pbkdf2-sha256$<iterations>$<salt>$<hash> (src/auth/basic-auth-hash.ts).
// The password is read from stdin (so it stays out of shell history and `ps`), or prompted for.
//   npm run hash:password             # asks for the password
//   printf %s "$PASSWORD" | npm run hash:password -- --iterations 100000
import { webcrypto as crypto } from 'node:crypto'
import { createInterface } from 'node:readline'

const MAX_ITERATIONS = 100_000 // Cloudflare's Web Crypto cap
const MIN_ITERATIONS = 10_000

const flag = process.argv.indexOf('--iterations')
const iterations = flag >= 0 ? Number(process.argv[flag + 1]) : MAX_ITERATIONS
if (!Number.isInteger(iterations) || iterations < MIN_ITERATIONS || iterations > MAX_ITERATIONS) {
  console.error(`--iterations must be a whole number from ${MIN_ITERATIONS} to ${MAX_ITERATIONS}`)
  process.exit(2)
}

async function readPassword() {
  if (!process.stdin.isTTY) {
    let text = ''
    for await (const chunk of process.stdin) text += chunk
    return text.replace(/\r?\n$/, '')
  }
  const rl = createInterface({ input: process.stdin, output: process.stderr, terminal: true })
  rl._writeToOutput = () => {} // don't echo the password
  process.stderr.write('password: ')
  const answer = await new Promise((resolve) => rl.question('', resolve))
  rl.close()
  process.stderr.write('\n')
  return answer
}

const password = await readPassword()
if (password === '') {
  console.error('the password is empty')
  process.exit(2)
}
const salt = crypto.getRandomValues(new Uint8Array(16))
const key = await crypto.subtle.importKey('raw', new TextEncoder().encode(password), 'PBKDF2', false, ['deriveBits'])
const bits = await crypto.subtle.deriveBits({ name: 'PBKDF2', hash: 'SHA-256', salt, iterations }, key, 256)
const b64 = (bytes) => Buffer.from(bytes).toString('base64')
console.log(`pbkdf2-sha256$${iterations}$${b64(salt)}$${b64(new Uint8Array(bits))}`)

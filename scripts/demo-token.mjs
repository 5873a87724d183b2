// `npm run -s demo:token [-- sub [scope]]`: prints a token from the demo issuer of `npm run dev`.
const [sub = 'user-1', scope = 'profile'] = process.argv.slice(2)
try {
  const res = await fetch(`http://127.0.0.1:9103/token?sub=${encodeURIComponent(sub)}&scope=${encodeURIComponent(scope)}`)
  if (!res.ok) throw new Error(`HTTP ${res.status}`)
  process.stdout.write(`${await res.text()}\n`)
} catch (err) {
  console.error(`demo issuer not reachable on 127.0.0.1:9103 (is \`npm run dev\` running?): ${err.message}`)
  process.exit(1)
}

// Benchmark contender for the Node binding. Prints one JSON line.
// Usage: node node_client.mjs <package dir> <key> <grant> <url> <calls> <conc> <warmup>
import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { performance } from "node:perf_hooks";

const [pkgDir, key, grant, url, callsS, concS, warmupS] = process.argv.slice(2);
const require = createRequire(import.meta.url);
const { App } = require(pkgDir);
const calls = Number(callsS), conc = Number(concS), warmup = Number(warmupS);

const app = new App({ apiKey: key });

async function batch(n) {
  const lat = [];
  let next = 0;
  async function worker() {
    while (next < n) {
      next++;
      const t = performance.now();
      const r = await app.request("GET", url, { grantId: grant });
      if (r.status !== 200) throw new Error(`status ${r.status}`);
      lat.push(performance.now() - t);
    }
  }
  await Promise.all(Array.from({ length: Math.min(conc, n) }, worker));
  return lat;
}

await batch(warmup);
// This process's own peak RSS: VmHWM on Linux. `maxRSS` (getrusage) of a
// child starts at its parent's RSS at fork, i.e. the harness's.
function peakRssKib() {
  try {
    const line = readFileSync('/proc/self/status', 'utf8').split('\n').find((l) => l.startsWith('VmHWM:'));
    if (line) return Number(line.split(/\s+/)[1]);
  } catch {}
  return process.resourceUsage().maxRSS;
}

const cpu0 = process.cpuUsage();
const t0 = performance.now();
const lat = (await batch(calls)).sort((a, b) => a - b);
await app.close(); // flushes the background audit posts: part of the work
const wall = (performance.now() - t0) / 1000;
const cpu = process.cpuUsage(cpu0);
const pct = (p) => lat[Math.round((lat.length - 1) * p)];
console.log(JSON.stringify({
  calls, concurrency: conc, throughput: calls / wall,
  p50_ms: pct(0.5), p99_ms: pct(0.99),
  cpu_s_per_call: (cpu.user + cpu.system) / 1e6 / calls,
  peak_rss_kib: peakRssKib(),
}));

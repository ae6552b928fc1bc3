// The durable fan-out workflow of workflow.py, for the npm Resonate SDK
// (@resonatehq/sdk 0.11.5, the "2026-04-01" protocol, its generator engine).
// Run by tests/processes/test_sdk2026.py with node from a copy of this
// folder where `npm ci` installed package-lock.json
// (tests/support/sdkenv.py); the arguments, the log lines and the summary
// are those of workflow.py:
//
//   node workflow.mjs worker --url URL --group workers --log FILE
//   node workflow.mjs run --url URL --group starters --id ID --n 3 \
//       --sleep 2 --workers workers --log FILE --timeout 120
//
// fanout fans out n children to the group `workers` with ctx.beginRpc,
// awaits them, sleeps durably with ctx.sleep, adds the squares in a local
// ctx.run step and returns {squares, total, slept}.

import { appendFileSync } from "node:fs";
import { parseArgs } from "node:util";

// The SDK declares node >= 22 and uses Promise.withResolvers (node 22);
// node 20 lacks only that.
if (typeof Promise.withResolvers !== "function") {
  Promise.withResolvers = function withResolvers() {
    let resolve;
    let reject;
    const promise = new this((res, rej) => {
      resolve = res;
      reject = rej;
    });
    return { promise, resolve, reject };
  };
}

const { Resonate } = await import("@resonatehq/sdk");
const sdkVersion = (await import("@resonatehq/sdk/package.json", { with: { type: "json" } })).default.version;
const SDK = `npm-${sdkVersion}`;

const { positionals, values: args } = parseArgs({
  allowPositionals: true,
  options: {
    url: { type: "string" },
    group: { type: "string" },
    pid: { type: "string" },
    log: { type: "string" },
    ttl: { type: "string", default: "60" },
    id: { type: "string" },
    n: { type: "string", default: "3" },
    sleep: { type: "string", default: "2" },
    delay: { type: "string", default: "0" },
    workers: { type: "string", default: "workers" },
    timeout: { type: "string", default: "120" },
  },
});
const mode = positionals[0];
if (!["worker", "run"].includes(mode) || !args.url || !args.group || !args.log) {
  console.error("usage: node workflow.mjs worker|run --url URL --group G --log FILE ...");
  process.exit(2);
}
const pid = args.pid ?? `${mode}-${process.pid}`;

function logExecution(event, id, fields = {}) {
  const line = { event, id, pid, sdk: SDK, at: Date.now() / 1000, ...fields };
  appendFileSync(args.log, `${JSON.stringify(line)}\n`);
}

// A remote child: its square, after `delay` seconds of work.
async function child(ctx, i, delay) {
  logExecution("child-start", ctx.id, { i });
  if (delay) {
    await new Promise((resolve) => setTimeout(resolve, delay * 1000));
  }
  logExecution("child", ctx.id, { i, value: i * i });
  return i * i;
}

// The local step.
function addAll(ctx, values) {
  logExecution("step", ctx.id, { values });
  return values.reduce((a, b) => a + b, 0);
}

// Fan out to n remote children, await them, sleep durably, add up.
function* fanout(ctx, n, sleep, workers, delay) {
  logExecution("fanout", ctx.id);
  const futures = [];
  for (let i = 0; i < n; i++) {
    futures.push(yield* ctx.beginRpc("child", i, delay, ctx.options({ target: workers })));
  }
  const squares = [];
  for (const future of futures) {
    squares.push(yield* future);
  }
  logExecution("sleeping", ctx.id, { squares });
  yield* ctx.sleep(sleep * 1000);
  const total = yield* ctx.run(addAll, squares);
  return { squares, total, slept: sleep };
}

function expected(n, sleep) {
  const squares = Array.from({ length: n }, (_, i) => i * i);
  return { squares, total: squares.reduce((a, b) => a + b, 0), slept: sleep };
}

const resonate = new Resonate({
  url: args.url === "local" ? undefined : args.url,
  group: args.group,
  pid,
  ttl: Number(args.ttl) * 1000,
});
resonate.register("fanout", fanout);
resonate.register("child", child);

async function stop(code) {
  await Promise.race([resonate.stop(), new Promise((r) => setTimeout(r, 10_000))]);
  process.exit(code);
}

if (mode === "worker") {
  for (const signal of ["SIGTERM", "SIGINT"]) {
    process.on(signal, () => stop(0));
  }
  console.log(JSON.stringify({ ready: true, sdk: SDK, group: args.group, pid }));
} else {
  if (!args.id) {
    console.error("run needs --id");
    process.exit(2);
  }
  const n = Number(args.n);
  const sleep = Number(args.sleep);
  const summary = { sdk: SDK, id: args.id, n, sleep, expected: expected(n, sleep) };
  let status = 1;
  const started = Date.now();
  const timeoutSeconds = Number(args.timeout);
  try {
    const handle = await resonate.beginRun(args.id, "fanout", n, sleep, args.workers, Number(args.delay));
    const timedOut = Symbol("timed out");
    let timer;
    const deadline = new Promise((resolve) => {
      timer = setTimeout(() => resolve(timedOut), timeoutSeconds * 1000);
    });
    const result = await Promise.race([handle.result(), deadline]);
    clearTimeout(timer);
    if (result === timedOut) {
      summary.error = `no result within ${timeoutSeconds}s`;
      status = 3;
    } else {
      summary.result = result;
      status = JSON.stringify(result) === JSON.stringify(summary.expected) ? 0 : 1;
      if (status !== 0) {
        summary.error = "wrong result";
      }
    }
  } catch (e) {
    summary.error = `${e?.name ?? "Error"}: ${e?.message ?? e}`;
    console.error(e);
  }
  summary.seconds = (Date.now() - started) / 1000;
  summary.ok = status === 0;
  console.log(JSON.stringify(summary));
  await stop(status);
}

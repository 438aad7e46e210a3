// Runs workers under `workerd serve` with generated Cap'n Proto configs, for
// the benchmark (bench/bench.mjs) and the e2e isolates harness.
//
// Every setup is one workerd process with the workers under test (one service,
// so one isolate, each) and the counting in-memory KV service kv-service.mjs,
// bound as REVOKED_TOKENS and reachable for the harness on its own socket.
// Outbound fetch goes through a network service that allows loopback, where
// the origin is.
//
// writeLocationsConfig sets up several edge locations in one process instead
// (the multi-location simulation, tests/e2e/support/locations.mjs): each
// location has its own isolates, its own view of one shared KV store
// (kv-locations.mjs through a kv-forwarder.mjs per location) and its own
// Cache API (cache-service.mjs), and optionally all of them bind one revocation
// journal, a SQLite Durable Object defined by a service of its own.
import { spawn } from "node:child_process";
import { mkdirSync, writeFileSync, realpathSync } from "node:fs";
import net from "node:net";
import path from "node:path";
import { fileURLToPath } from "node:url";

export const WORKERD = realpathSync(new URL("../../node_modules/.bin/workerd", import.meta.url).pathname);
/** The in-memory KV service every setup binds as REVOKED_TOKENS unless told otherwise. */
export const KV_SERVICE = fileURLToPath(new URL("./kv-service.mjs", import.meta.url));
/** The protocol helpers every KV store embeds next to its own module. */
const KV_PROTOCOL = fileURLToPath(new URL("./kv-protocol.mjs", import.meta.url));
/** The KV store shared by the locations of writeLocationsConfig, and the per-location forwarder to it. */
export const KV_LOCATIONS = fileURLToPath(new URL("./kv-locations.mjs", import.meta.url));
const KV_FORWARDER = fileURLToPath(new URL("./kv-forwarder.mjs", import.meta.url));
/** The Cache API backend of one location. */
export const CACHE_SERVICE = fileURLToPath(new URL("./cache-service.mjs", import.meta.url));
/** The revocation journal's Durable Object: its class, binding, storage key, service and disk. */
export const JOURNAL = Object.freeze({
  className: "RevocationJournal",
  binding: "REVOCATION_JOURNAL",
  uniqueKey: "edge-revoke-journal",
  service: "journal",
  disk: "journal-disk",
});

const capnpString = (s) => JSON.stringify(String(s)); // ASCII-only values: JSON escapes are valid capnp
// Cap'n Proto declaration names are camelCase: worker "a" is `workerA`.
const declName = (name) => `worker${name[0].toUpperCase()}${name.slice(1).replace(/[^A-Za-z0-9]/g, "")}`;

/**
 * Writes a config with one worker under test and returns its path.
 * worker: { kind: "js", module } | { kind: "rust", dir }
 *       | { kind: "modules", modules: [{ name, path, type = "esModule" | "wasm" }] }
 *   (the first of `modules` is the main module); module/dir/path absolute
 * bindings: { NAME: string | { embed: absPath } }
 * journal: true makes the worker define and bind the revocation journal (its
 *   SQLite files in <runDir>/<name>-journal) and gives it a Cache API service
 *   (cache-service.mjs, admin socket on port + 2).
 */
export function writeConfig({ runDir, name, worker, bindings, port, kvStore = KV_SERVICE, journal = false, compatibilityDate }) {
  return writeMultiConfig({
    runDir,
    name,
    workers: [{ name: "main", port, worker, bindings, journal }],
    kvStore,
    kvPort: port + 1,
    journalDir: journal ? path.join(runDir, `${name}-journal`) : undefined,
    cachePort: journal ? port + 2 : undefined,
    compatibilityDate,
  });
}

/** The `modules` list of `worker` (see writeConfig), its paths relative to the config (`rel`). */
function modulesOf(worker, rel) {
  if (worker.kind === "rust") {
    return `[ (name = "index.js", esModule = embed ${capnpString(rel(path.join(worker.dir, "index.js")))}),
          (name = "index_bg.wasm", wasm = embed ${capnpString(rel(path.join(worker.dir, "index_bg.wasm")))}) ]`;
  }
  if (worker.kind === "modules") {
    return `[ ${worker.modules
      .map((m) => `(name = ${capnpString(m.name)}, ${m.type ?? "esModule"} = embed ${capnpString(rel(m.path))})`)
      .join(",\n          ")} ]`;
  }
  return `[ (name = "worker.mjs", esModule = embed ${capnpString(rel(worker.module))}) ]`;
}

/** A worker of one ES module `file`, under the module name `name`. */
const jsModule = (file, name) => ({ kind: "modules", modules: [{ name, path: file }] });
/** A KV store worker: its module `file` as `name`, and kv-protocol.mjs, which it imports. */
const kvStoreModules = (file, name) => ({ kind: "modules", modules: [{ name, path: file }, { name: "kv-protocol.mjs", path: KV_PROTOCOL }] });

/** Binding lines for settings: { NAME: string | { embed: absPath } }; null and undefined are left out. */
function textBindings(bindings, rel) {
  return Object.entries(bindings)
    .filter(([, value]) => value !== undefined && value !== null)
    .map(([key, value]) =>
      typeof value === "object"
        ? `(name = ${capnpString(key)}, text = embed ${capnpString(rel(value.embed))})`
        : `(name = ${capnpString(key)}, text = ${capnpString(value)})`,
    );
}

/** The REVOKED_TOKENS binding to the KV service named `service`. */
const kvBinding = (service) => `(name = "REVOKED_TOKENS", kvNamespace = ${capnpString(service)})`;

/**
 * One `const <decl> :Workerd.Worker` definition. `bindings` are binding lines
 * (none: no bindings field); `fields` are more lines of the struct, each
 * ending in a comma (e.g. `cacheApiOutbound = "cache",`).
 */
function workerDefinition(decl, { worker, rel, compatibilityDate, bindings = [], fields = [] }) {
  const lines = [`  modules = ${modulesOf(worker, rel)},`, `  compatibilityDate = ${capnpString(compatibilityDate)},`];
  if (bindings.length > 0) lines.push(`  bindings = [\n    ${bindings.join(",\n    ")}\n  ],`);
  for (const field of fields) lines.push(`  ${field}`);
  return `const ${decl} :Workerd.Worker = (\n${lines.join("\n")}\n);\n`;
}

/**
 * The binding and fields of a worker that defines the RevocationJournal
 * namespace itself (SQLite, on the disk service JOURNAL.disk) and binds it
 * as REVOCATION_JOURNAL, with `cacheService` as its Cache API.
 */
function definesJournal(cacheService) {
  return {
    binding: `(name = ${capnpString(JOURNAL.binding)}, durableObjectNamespace = ${capnpString(JOURNAL.className)})`,
    fields: [
      `durableObjectNamespaces = [ (className = ${capnpString(JOURNAL.className)}, uniqueKey = ${capnpString(
        JOURNAL.uniqueKey,
      )}, enableSql = true) ],`,
      `durableObjectStorage = (localDisk = ${capnpString(JOURNAL.disk)}),`,
      `cacheApiOutbound = ${capnpString(cacheService)},`,
    ],
  };
}

/** The disk service that holds the journal's SQLite files, at the absolute path `dir`. */
const journalDisk = (dir) => `    (name = ${capnpString(JOURNAL.disk)}, disk = (path = ${capnpString(dir)}, writable = true)),`;

const serviceLine = (name, decl) => `    (name = ${capnpString(name)}, worker = .${decl}),`;
const socketLine = (name, port, service) =>
  `    (name = ${capnpString(name)}, address = "127.0.0.1:${port}", http = (), service = ${capnpString(service)}),`;

/** The whole config file: services (plus the loopback network), sockets and worker definitions. */
function configText(name, { services, sockets, definitions }) {
  return `# Generated by scripts/lib/workerd.mjs for setup ${name}.
using Workerd = import "/workerd/workerd.capnp";

const config :Workerd.Config = (
  services = [
${services.join("\n")}
    (name = "internet", network = (allow = ["public", "private", "local"])),
  ],
  sockets = [
${sockets.join("\n")}
  ],
);

${definitions.join("\n")}`;
}

/** Writes `text` as <runDir>/<name>.capnp and returns its path. */
function writeConfigFile(runDir, name, text) {
  const file = path.join(runDir, `${name}.capnp`);
  writeFileSync(file, text);
  return file;
}

/**
 * Writes a config where every worker in `workers` ({ name, port, worker,
 * bindings }) is its own service, so its own isolate, and all of them bind
 * REVOKED_TOKENS to the one KV service `kvStore` (admin socket on `kvPort`).
 *
 * With `kvAddress` ("127.0.0.1:<port>"), the KV service is not in this process:
 * REVOKED_TOKENS goes to that address (a KV process from writeKvConfig), and
 * `kvStore`/`kvPort` are unused. The soak uses this so that a worker process's
 * memory holds the worker alone, not the store's growing map.
 */
export function writeMultiConfig({ runDir, name, workers, kvStore = KV_SERVICE, kvPort, kvAddress, journalDir, cachePort, compatibilityDate }) {
  mkdirSync(runDir, { recursive: true });
  const rel = (p) => path.relative(runDir, p);
  const services = workers.map((w) => serviceLine(w.name, declName(w.name)));
  const sockets = workers.map((w) => socketLine(`http_${w.name}`, w.port, w.name));
  const definitions = workers.map((w) => {
    const journal = w.journal ? definesJournal("cache") : { binding: null, fields: [] };
    return workerDefinition(declName(w.name), {
      worker: w.worker,
      rel,
      compatibilityDate,
      bindings: [kvBinding("kv"), ...(journal.binding ? [journal.binding] : []), ...textBindings(w.bindings, rel)],
      fields: journal.fields,
    });
  });
  if (workers.some((w) => w.journal)) {
    if (!path.isAbsolute(journalDir ?? "")) throw new Error("a worker with journal: true needs an absolute journalDir");
    mkdirSync(journalDir, { recursive: true });
    services.push(journalDisk(journalDir), serviceLine("cache", "cacheService"));
    if (cachePort) sockets.push(socketLine("cacheadmin", cachePort, "cache"));
    definitions.push(workerDefinition("cacheService", { worker: jsModule(CACHE_SERVICE, "cache-service.mjs"), rel, compatibilityDate }));
  }
  if (kvAddress) {
    services.push(`    (name = "kv", external = (address = ${capnpString(kvAddress)}, http = ())),`);
  } else {
    services.push(serviceLine("kv", "kvWorker"));
    sockets.push(socketLine("kvadmin", kvPort, "kv"));
    definitions.push(workerDefinition("kvWorker", { worker: kvStoreModules(kvStore, "kv-service.mjs"), rel, compatibilityDate }));
  }
  return writeConfigFile(runDir, name, configText(name, { services, sockets, definitions }));
}

/**
 * Writes a config that runs only the KV service `kvStore`, on one socket at
 * 127.0.0.1:`port` that serves both the KV protocol and the admin paths.
 * Workers in another process reach it with writeMultiConfig's `kvAddress`.
 */
export function writeKvConfig({ runDir, name, port, kvStore = KV_SERVICE, compatibilityDate }) {
  return writeMultiConfig({ runDir, name, workers: [], kvStore, kvPort: port, compatibilityDate });
}

const capitalised = (name) => `${name[0].toUpperCase()}${name.slice(1)}`;

/**
 * Writes a config of several edge locations in one process and returns its path.
 * locations: [{ name, isolates, ports: [one per isolate], cachePort }], names
 *   lower-case letters and digits ("journal" is taken). Isolate i (from 1) of
 *   location "a" is service "a-<i>" on 127.0.0.1:ports[i-1], running `worker`
 *   (e.g. { kind: "rust", dir }) with `bindings` (settings, as for writeConfig).
 *   The isolates of a location bind REVOKED_TOKENS to its forwarder "kv-a"
 *   (which names the location to the shared store) and use "cache-a" as their
 *   Cache API (`cacheApiOutbound`; its admin socket on cachePort).
 * kvPort: the shared store's admin socket (kv-locations.mjs).
 * journal: true adds the service "journal" running `worker` too, which defines
 *   the RevocationJournal Durable Object namespace (SQLite, stored on the disk
 *   service "journal-disk" at the absolute path `journalDir`), with `bindings`,
 *   its own forwarder for a location named "journal" and its own cache; every
 *   isolate binds REVOCATION_JOURNAL to that namespace. `journalPort`, when
 *   given, is a socket for the journal service itself. journal: false emits no
 *   Durable Object configuration at all.
 */
export function writeLocationsConfig({
  runDir,
  name,
  worker,
  locations,
  bindings = {},
  kvPort,
  journal = false,
  journalDir,
  journalPort,
  kvStore = KV_LOCATIONS,
  compatibilityDate,
}) {
  mkdirSync(runDir, { recursive: true });
  const rel = (p) => path.relative(runDir, p);
  const names = locations.map((l) => l.name);
  for (const l of locations) {
    if (!/^[a-z][a-z0-9]*$/.test(l.name) || l.name === JOURNAL.service) throw new Error(`bad location name ${JSON.stringify(l.name)}`);
    if (l.ports?.length !== l.isolates) throw new Error(`location ${l.name}: ${l.isolates} isolates need as many ports`);
  }
  if (new Set(names).size !== names.length) throw new Error(`location names repeat: ${names}`);
  if (journal && !path.isAbsolute(journalDir ?? "")) throw new Error("journal: true needs an absolute journalDir");

  const settings = textBindings(bindings, rel);
  const journalBinding = `(name = ${capnpString(JOURNAL.binding)}, durableObjectNamespace = (className = ${capnpString(
    JOURNAL.className,
  )}, serviceName = ${capnpString(JOURNAL.service)}))`;
  const services = [serviceLine("kv", "kvLocations")];
  const sockets = [socketLine("kvadmin", kvPort, "kv")];
  const definitions = [
    workerDefinition("kvLocations", { worker: kvStoreModules(kvStore, "kv-locations.mjs"), rel, compatibilityDate }),
    workerDefinition("cacheService", { worker: jsModule(CACHE_SERVICE, "cache-service.mjs"), rel, compatibilityDate }),
  ];
  /** The forwarder and cache services of `location`. */
  const locationServices = (location) => {
    const forwarder = `kvForwarder${capitalised(location)}`;
    services.push(serviceLine(`kv-${location}`, forwarder), serviceLine(`cache-${location}`, "cacheService"));
    definitions.push(
      workerDefinition(forwarder, {
        worker: jsModule(KV_FORWARDER, "kv-forwarder.mjs"),
        rel,
        compatibilityDate,
        bindings: [`(name = "KV", service = "kv")`, ...textBindings({ LOCATION: location }, rel)],
      }),
    );
  };

  for (const location of locations) {
    const decl = `location${capitalised(location.name)}`;
    locationServices(location.name);
    sockets.push(socketLine(`cacheadmin-${location.name}`, location.cachePort, `cache-${location.name}`));
    location.ports.forEach((port, i) => {
      const service = `${location.name}-${i + 1}`;
      services.push(serviceLine(service, decl));
      sockets.push(socketLine(`http-${service}`, port, service));
    });
    definitions.push(
      workerDefinition(decl, {
        worker,
        rel,
        compatibilityDate,
        bindings: [kvBinding(`kv-${location.name}`), ...(journal ? [journalBinding] : []), ...settings],
        fields: [`cacheApiOutbound = ${capnpString(`cache-${location.name}`)},`],
      }),
    );
  }

  if (journal) {
    locationServices(JOURNAL.service);
    services.push(serviceLine(JOURNAL.service, "journalService"), journalDisk(journalDir));
    if (journalPort) sockets.push(socketLine(`http-${JOURNAL.service}`, journalPort, JOURNAL.service));
    const journalDefinition = definesJournal(`cache-${JOURNAL.service}`);
    definitions.push(
      workerDefinition("journalService", {
        worker,
        rel,
        compatibilityDate,
        bindings: [kvBinding(`kv-${JOURNAL.service}`), journalDefinition.binding, ...settings],
        fields: journalDefinition.fields,
      }),
    );
  }
  return writeConfigFile(runDir, name, configText(name, { services, sockets, definitions }));
}

/** Tries to connect once; resolves a connected socket or null. */
function tryConnect(port) {
  return new Promise((resolve) => {
    const socket = net.connect({ host: "127.0.0.1", port });
    socket.once("connect", () => resolve(socket));
    socket.once("error", () => resolve(null));
  });
}

/** Throws when something already listens on `port` (it would answer for us). */
export async function assertFree(port) {
  const socket = await tryConnect(port);
  if (socket) {
    socket.destroy();
    throw new Error(`port ${port} is already in use on 127.0.0.1; stop what listens there`);
  }
}

/**
 * Spawns workerd on `config`. Returns { child, spawnedAt, stderr() }.
 * `detached: true` puts it in its own process group, so a Ctrl-C in the
 * terminal reaches only the harness, which then stops it itself (the soak).
 * `args` are more command-line flags (e.g. `--inspector-addr=...`).
 */
export function spawnWorkerd(config, { detached = false, args = [] } = {}) {
  let stderr = "";
  const spawnedAt = process.hrtime.bigint();
  const child = spawn(WORKERD, ["serve", config, ...args], { stdio: ["ignore", "ignore", "pipe"], detached });
  child.stderr.on("data", (d) => {
    if (stderr.length < 20000) stderr += d;
  });
  child.on("error", (e) => {
    stderr += String(e);
  });
  return { child, spawnedAt, stderr: () => stderr };
}

/** Waits until `port` accepts connections; returns the connected socket. */
export async function waitForPort(port, proc, timeoutMs = 20000) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const socket = await tryConnect(port);
    if (socket) return socket;
    if (proc && proc.child.exitCode !== null) {
      throw new Error(`workerd exited (${proc.child.exitCode}): ${proc.stderr()}`);
    }
    if (Date.now() > deadline) throw new Error(`port ${port} not listening after ${timeoutMs} ms: ${proc?.stderr()}`);
    await new Promise((r) => setTimeout(r, 1));
  }
}

/** Starts workerd and waits for both sockets (the worker's and the KV admin's). */
export async function startWorkerd(config, port) {
  return startWorkerdOn(config, [port, port + 1]);
}

/**
 * Starts workerd and waits until every port in `ports` accepts connections.
 * `options` go to spawnWorkerd; `onSpawn(proc)` is called right after the
 * spawn, before the wait, so a caller can register the process for cleanup.
 */
export async function startWorkerdOn(config, ports, options = {}) {
  for (const port of ports) await assertFree(port);
  const proc = spawnWorkerd(config, options);
  options.onSpawn?.(proc);
  for (const port of ports) (await waitForPort(port, proc)).destroy();
  return proc;
}

/** SIGTERM to this one child, then waits for it (SIGKILL after 3 s). */
export async function stop(proc) {
  const { child } = proc;
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((r) => child.once("exit", r));
  child.kill("SIGTERM");
  const timer = setTimeout(() => child.kill("SIGKILL"), 3000);
  await exited;
  clearTimeout(timer);
}

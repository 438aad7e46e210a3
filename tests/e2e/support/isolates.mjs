// Several isolates of the built worker sharing one KV namespace: one
// `workerd serve` process in which each worker is its own service (so its
// own isolate, with its own caches and remembered writes), all bound to one
// KV service. This is how two edge locations, or two isolates of one, see
// the same revocations.
import path from 'node:path';
import { writeMultiConfig, startWorkerdOn, stop } from '../../../scripts/lib/workerd.mjs';
import { BUILD_JS, buildWorkerOnce, freePorts, projectCompatDate, tempDir } from './worker.mjs';

/**
 * Starts `names.length` isolates of the built worker with the same settings.
 * @returns {Promise<{urls: Record<string, string>, kvAdmin: string, stop(): Promise<void>, stderr(): string}>}
 */
export async function startIsolates({ vars = {}, originUrl, names = ['a', 'b'] } = {}) {
  buildWorkerOnce();
  const dir = tempDir('isolates');
  const ports = await freePorts(names.length + 1);
  const kvPort = ports.pop();
  const bindings = { ...vars, ORIGIN_URL: originUrl };
  const config = writeMultiConfig({
    runDir: dir,
    name: 'isolates',
    workers: names.map((name, i) => ({
      name,
      port: ports[i],
      worker: { kind: 'rust', dir: path.dirname(BUILD_JS) },
      bindings,
    })),
    kvPort,
    compatibilityDate: projectCompatDate(),
  });
  const proc = await startWorkerdOn(config, [...ports, kvPort]);
  return {
    urls: Object.fromEntries(names.map((name, i) => [name, `http://127.0.0.1:${ports[i]}`])),
    kvAdmin: `http://127.0.0.1:${kvPort}`,
    stop: () => stop(proc),
    stderr: proc.stderr,
  };
}

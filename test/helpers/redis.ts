/**
 * A real redis-server for the limit-store tests, on a unix socket in a temp
 * directory (no TCP port: `--port 0`), with no persistence. Readiness is the
 * server's own "ready to accept connections" log line (bounded by a timeout, and
 * failing at once if the process exits). `kill()` stops it abruptly by PID
 * (an outage), `restart()` starts a new one on the same socket, `stop()`
 * ends it and removes the directory.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export const REDIS_SERVER = process.env['REDIS_SERVER'] ?? '/usr/bin/redis-server';

export interface RedisServer {
  /** The socket path. */
  readonly socket: string;
  /** `unix:///...` for RedisStore. */
  readonly url: string;
  readonly pid: number | undefined;
  /** SIGKILL by PID and wait for the exit: an outage. */
  kill(): Promise<void>;
  /** A new server on the same socket (after kill). */
  restart(): Promise<void>;
  /** Stop (if running) and remove the temp directory. */
  stop(): Promise<void>;
}

const READY_TIMEOUT_MS = 10_000;

function launch(dir: string, socket: string): Promise<ChildProcess> {
  const child = spawn(
    REDIS_SERVER,
    [
      '--port',
      '0',
      '--unixsocket',
      socket,
      '--unixsocketperm',
      '700',
      '--save',
      '',
      '--appendonly',
      'no',
      '--dir',
      dir,
      '--logfile',
      '',
      '--loglevel',
      'notice',
    ],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  return new Promise((resolve, reject) => {
    let seen = '';
    const timer = setTimeout(() => {
      finish(
        new Error(`redis-server not ready after ${READY_TIMEOUT_MS} ms:\n${seen.slice(-2000)}`),
      );
      child.kill('SIGKILL');
    }, READY_TIMEOUT_MS);
    const onData = (chunk: Buffer): void => {
      if (seen.length < 65_536) seen += chunk.toString('utf8');
      if (/ready to accept connections/i.test(seen)) finish(undefined);
    };
    const onExit = (code: number | null): void => {
      finish(new Error(`redis-server exited (${code}) before it was ready:\n${seen.slice(-2000)}`));
    };
    const onError = (err: Error): void => finish(err);
    function finish(err: Error | undefined): void {
      clearTimeout(timer);
      child.stdout?.off('data', onData);
      child.off('exit', onExit);
      child.off('error', onError);
      // Keep draining the pipes so the server never blocks on a full one.
      child.stdout?.resume();
      child.stderr?.resume();
      if (err) reject(err);
      else resolve(child);
    }
    child.stdout?.on('data', onData);
    child.stderr?.on('data', (chunk: Buffer) => {
      if (seen.length < 65_536) seen += chunk.toString('utf8');
    });
    child.once('exit', onExit);
    child.once('error', onError);
  });
}

function killAndWait(child: ChildProcess | undefined): Promise<void> {
  if (child === undefined || child.exitCode !== null || child.signalCode !== null) {
    return Promise.resolve();
  }
  return new Promise((resolve) => {
    child.once('exit', () => resolve());
    if (child.pid !== undefined) process.kill(child.pid, 'SIGKILL');
  });
}

export async function startRedis(): Promise<RedisServer> {
  const dir = mkdtempSync(join(tmpdir(), 'oidcgw-redis-'));
  const socket = join(dir, 'redis.sock');
  let child: ChildProcess | undefined = await launch(dir, socket);
  return {
    socket,
    url: `unix://${socket}`,
    get pid() {
      return child?.pid;
    },
    async kill() {
      await killAndWait(child);
      child = undefined;
    },
    async restart() {
      await killAndWait(child);
      rmSync(socket, { force: true });
      child = await launch(dir, socket);
    },
    async stop() {
      await killAndWait(child);
      child = undefined;
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

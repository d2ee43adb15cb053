import { mkdir, open, rename, rm, stat } from 'node:fs/promises';
import { dirname } from 'node:path';

/**
 * Creates `dir` (and missing parents) with mode 0700. An existing directory is
 * never changed (it may be a shared one the user pointed us at); the result
 * says whether others can read it, so callers can warn.
 */
export async function ensurePrivateDir(dir: string): Promise<{ private: boolean }> {
  await mkdir(dir, { recursive: true, mode: 0o700 });
  const info = await stat(dir);
  return { private: (info.mode & 0o077) === 0 };
}

/**
 * Writes `data` to `file` atomically with mode 0600: a temporary file in the
 * same directory, flushed, then renamed over the target. Readers see the old
 * content or the new, never a half-written file.
 */
let counter = 0;

/** A name no other writer uses: pid, time and a counter (exclusivity comes from O_EXCL). */
function tempSuffix(): string {
  counter = (counter + 1) % 1_000_000;
  return `${process.pid}.${process.hrtime.bigint().toString(36)}.${counter}`;
}

export async function writeFileAtomic(file: string, data: string): Promise<void> {
  await ensurePrivateDir(dirname(file));
  const tmp = `${file}.${tempSuffix()}.tmp`;
  const handle = await open(tmp, 'wx', 0o600);
  try {
    await handle.writeFile(data, 'utf8');
    await handle.sync();
  } catch (error) {
    await handle.close();
    await rm(tmp, { force: true });
    throw error;
  }
  await handle.close();
  try {
    await rename(tmp, file);
  } catch (error) {
    await rm(tmp, { force: true });
    throw error;
  }
}

/** Exit codes (docs/errors.md). */
export const EXIT = {
  ok: 0,
  failed: 1,
  usage: 2,
  network: 3,
  httpFail: 22,
  interrupted: 130,
} as const;

export type ExitCode = (typeof EXIT)[keyof typeof EXIT];

export interface CatalogEntry {
  /** The process exit code this error maps to. */
  readonly exit: ExitCode;
  /** One sentence for docs/errors.md: when this error happens. */
  readonly summary: string;
}

export type Catalog = Readonly<Record<string, CatalogEntry>>;

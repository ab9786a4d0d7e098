import { readFileSync } from "node:fs";
import { stat } from "node:fs/promises";
import { createSecureContext } from "node:tls";
import type { SecureContext, SecureContextOptions } from "node:tls";
import type { TlsReloadOutcome, TlsSettings } from "./types.js";

/** Default interval between checks of the certificate files for change. */
export const DEFAULT_TLS_RELOAD_MS = 10_000;

/** The PEM contents behind one secure context. */
export interface TlsMaterial {
  readonly cert: Buffer;
  readonly key: Buffer;
  readonly ca: Buffer | undefined;
}

/**
 * The certificate and key of our TLS side, loaded from files and reloaded when they change.
 *
 * Change detection polls stat() (size, mtime, inode, following symlinks) rather than fs.watch:
 * certificate managers replace files by rename (cert-manager, certbot) and Kubernetes swaps a
 * secret volume's `..data` symlink; an inotify watch on the old inode misses both. A polled stat
 * of the path sees the new target. A reload that fails (unreadable file, key not matching the
 * certificate, a half-written PEM) keeps the previous credentials and is reported; the next
 * change is tried again.
 */
export class TlsCredentials {
  private material: TlsMaterial;
  private secureContextValue: SecureContext;
  private fingerprint: string;
  private timer: NodeJS.Timeout | undefined;
  private checking = false;
  private readonly subscribers: ((m: TlsMaterial) => void)[] = [];

  /** Loads the files now; throws (with the file's name in the message) when they cannot be used. */
  constructor(
    readonly settings: TlsSettings,
    private readonly onReload: (outcome: TlsReloadOutcome) => void = () => {},
  ) {
    this.material = readMaterial(settings);
    this.secureContextValue = createSecureContext(contextOptions(this.material));
    this.fingerprint = "";
  }

  /** Current PEM material (for tls.Server / https.Server options). */
  get current(): TlsMaterial {
    return this.material;
  }

  /** A secure context for outbound connections, rebuilt on reload. */
  get secureContext(): SecureContext {
    return this.secureContextValue;
  }

  /** Called with the new material after each successful reload (servers call setSecureContext). */
  subscribe(fn: (m: TlsMaterial) => void): void {
    this.subscribers.push(fn);
  }

  /** Start polling the files. Records their current state first so the first change is seen. */
  async watch(): Promise<void> {
    this.fingerprint = await this.statFingerprint();
    const ms = this.settings.reloadIntervalMs ?? DEFAULT_TLS_RELOAD_MS;
    if (ms <= 0) return;
    this.timer = setInterval(() => void this.checkNow(), ms);
    this.timer.unref();
  }

  stop(): void {
    if (this.timer !== undefined) clearInterval(this.timer);
    this.timer = undefined;
  }

  /** Check the files once and reload when changed; resolves to whether a reload happened. */
  async checkNow(): Promise<boolean> {
    if (this.checking) return false;
    this.checking = true;
    try {
      const fp = await this.statFingerprint();
      if (fp === this.fingerprint) return false;
      this.fingerprint = fp;
      return this.reload();
    } finally {
      this.checking = false;
    }
  }

  private reload(): boolean {
    let next: TlsMaterial;
    let ctx: SecureContext;
    try {
      next = readMaterial(this.settings);
      ctx = createSecureContext(contextOptions(next));
    } catch (err) {
      this.onReload({ ok: false, certFile: this.settings.certFile, error: err instanceof Error ? err : new Error(String(err)) });
      return false;
    }
    this.material = next;
    this.secureContextValue = ctx;
    for (const fn of this.subscribers) fn(next);
    this.onReload({ ok: true, certFile: this.settings.certFile });
    return true;
  }

  private async statFingerprint(): Promise<string> {
    const files = [this.settings.certFile, this.settings.keyFile];
    if (this.settings.caFile !== undefined) files.push(this.settings.caFile);
    const parts = await Promise.all(
      files.map(async (f) => {
        try {
          const s = await stat(f);
          return `${s.ino}:${s.size}:${s.mtimeMs}`;
        } catch {
          return "missing"; // mid-rotation; the next poll sees the new file
        }
      }),
    );
    return parts.join("|");
  }
}

/** Options for createSecureContext / tls.Server#setSecureContext from PEM material. */
export function contextOptions(m: TlsMaterial): SecureContextOptions {
  // TLS 1.2 is the floor RFC 8996 leaves; SIP phones commonly speak 1.2 rather than 1.3.
  return m.ca !== undefined ? { cert: m.cert, key: m.key, ca: m.ca, minVersion: "TLSv1.2" } : { cert: m.cert, key: m.key, minVersion: "TLSv1.2" };
}

function readMaterial(s: TlsSettings): TlsMaterial {
  return {
    cert: readPem(s.certFile, "certificate"),
    key: readPem(s.keyFile, "private key"),
    ca: s.caFile !== undefined ? readPem(s.caFile, "CA bundle") : undefined,
  };
}

function readPem(file: string, what: string): Buffer {
  let data: Buffer;
  try {
    data = readFileSync(file);
  } catch (err) {
    throw new Error(`cannot read TLS ${what} ${file}: ${(err as Error).message}`, { cause: err });
  }
  if (!data.includes("-----BEGIN ")) throw new Error(`TLS ${what} ${file} is not PEM`);
  return data;
}

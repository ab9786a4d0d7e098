/**
 * `edgepath ctl`: a thin client of the admin API (any process's HTTP port).
 *   ctl aor <aor>   bindings of an AOR with reachability
 *   ctl ring        ring members
 *   ctl flows       open flows of an edge
 *   ctl user add <aor> [<password>|-]   digest credentials (HA1): straight into Redis with REDIS_URL,
 *   ctl user rm <aor>                   else through the embedded system's admin API (PUT/DELETE /v1/users/{aor})
 */
import { createInterface } from "node:readline";
import { AuthError, credentialFor, credentialKeyOf, RedisCredentialStore } from "@edgepath/auth";
export async function runCtl(args: string[], env: Record<string, string | undefined>): Promise<number> {
  const urlFlag = args.find((a) => a.startsWith("--url="));
  const base = (urlFlag?.slice("--url=".length) ?? env["EDGEPATH_ADMIN_URL"]?.trim()) || "http://127.0.0.1:8080";
  const positional = args.filter((a) => !a.startsWith("--"));
  const [what, arg] = positional;
  if (what === "user") return runUserCtl(positional.slice(1), env, base);
  let path: string;
  if (what === "aor" && arg !== undefined) path = `/v1/aors/${encodeURIComponent(arg)}`;
  else if (what === "ring") path = "/v1/ring";
  else if (what === "flows") path = "/v1/flows";
  else {
    console.error("usage: edgepath ctl aor <aor> | ring | flows [--url=http://host:port] | user add <aor> [<password>|-] | user rm <aor>");
    return 2;
  }
  let res: Response;
  try {
    res = await fetch(new URL(path, base));
  } catch (err) {
    console.error(`edgepath ctl: cannot reach ${base} (EDGEPATH_ADMIN_URL / --url): ${err instanceof Error ? err.message : String(err)}`);
    return 1;
  }
  const body = await res.text();
  console.log(formatJson(body));
  return res.ok ? 0 : 1;
}

function formatJson(text: string): string {
  try {
    return JSON.stringify(JSON.parse(text), null, 2);
  } catch {
    return text;
  }
}

/**
 * `ctl user add|rm`: credentials go straight into Redis, the cluster's truth (DESIGN §4), with
 * REDIS_URL (and REDIS_USERNAME / REDIS_PASSWORD) from the environment; the realm is
 * EDGEPATH_AUTH_REALM or the AOR's domain, as the registrars compute it. Only HA1 values are
 * stored. A password of "-" (or none) is read from stdin, keeping it out of the process list.
 * The embedded system (`edgepath all`) keeps credentials in memory: it has no Redis to write to.
 */
async function runUserCtl(args: string[], env: Record<string, string | undefined>, adminBase: string): Promise<number> {
  const [op, aor, password] = args;
  if ((op !== "add" && op !== "rm") || aor === undefined) {
    console.error("usage: edgepath ctl user add <aor> [<password>|-] | user rm <aor>   (REDIS_URL, or the embedded system's --url)");
    return 2;
  }
  const url = env["REDIS_URL"]?.trim();
  if (url === undefined || url === "") return userViaAdmin(op, aor, password, adminBase);
  const realm = env["EDGEPATH_AUTH_REALM"]?.trim() || undefined;
  const user = env["REDIS_USERNAME"]?.trim() || undefined;
  const pass = env["REDIS_PASSWORD"]?.trim() || undefined;
  const store = new RedisCredentialStore({
    url,
    redis: { ...(user !== undefined ? { username: user } : {}), ...(pass !== undefined ? { password: pass } : {}) },
  });
  try {
    await store.ready();
    if (op === "add") {
      const pw = password === undefined || password === "-" ? await readLine() : password;
      const c = credentialFor(aor, pw, realm);
      await store.put(c);
      console.log(JSON.stringify({ added: c.aor, username: c.username, realm: c.realm }));
      return 0;
    }
    const k = credentialKeyOf(aor, realm);
    const removed = await store.remove(k.username, k.realm);
    console.log(JSON.stringify({ removed, aor, username: k.username, realm: k.realm }));
    return removed ? 0 : 1;
  } catch (err) {
    console.error(`edgepath ctl user: ${err instanceof AuthError || err instanceof Error ? err.message : String(err)}`);
    return 1;
  } finally {
    await store.close();
  }
}

/** The embedded system keeps credentials in memory: add/remove them through its admin API. */
async function userViaAdmin(op: "add" | "rm", aor: string, password: string | undefined, base: string): Promise<number> {
  const target = new URL(`/v1/users/${encodeURIComponent(aor)}`, base);
  let res: Response;
  try {
    if (op === "add") {
      const pw = password === undefined || password === "-" ? await readLine() : password;
      res = await fetch(target, { method: "PUT", headers: { "content-type": "application/json" }, body: JSON.stringify({ password: pw }) });
    } else {
      res = await fetch(target, { method: "DELETE" });
    }
  } catch (err) {
    console.error(`edgepath ctl user: no REDIS_URL, and cannot reach the admin API at ${base} (EDGEPATH_ADMIN_URL / --url): ${err instanceof Error ? err.message : String(err)}`);
    return 1;
  }
  const body = await res.text();
  (res.ok ? console.log : console.error)(formatJson(body));
  return res.ok ? 0 : 1;
}

async function readLine(): Promise<string> {
  const rl = createInterface({ input: process.stdin });
  try {
    for await (const line of rl) return line.replace(/\r$/, "");
    return "";
  } finally {
    rl.close();
  }
}

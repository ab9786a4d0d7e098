/**
 * `edgepath ctl`: a thin client of the admin API (any process's HTTP port).
 *   ctl aor <aor>   bindings of an AOR with reachability
 *   ctl ring        ring members
 *   ctl flows       open flows of an edge
 */
export async function runCtl(args: string[], env: Record<string, string | undefined>): Promise<number> {
  const urlFlag = args.find((a) => a.startsWith("--url="));
  const base = (urlFlag?.slice("--url=".length) ?? env["EDGEPATH_ADMIN_URL"]?.trim()) || "http://127.0.0.1:8080";
  const positional = args.filter((a) => !a.startsWith("--"));
  const [what, arg] = positional;
  let path: string;
  if (what === "aor" && arg !== undefined) path = `/v1/aors/${encodeURIComponent(arg)}`;
  else if (what === "ring") path = "/v1/ring";
  else if (what === "flows") path = "/v1/flows";
  else {
    console.error("usage: edgepath ctl aor <aor> | ring | flows [--url=http://host:port]");
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

/**
 * Value types of the SIP message model (RFC 3261 §19, §20). Pure data, no behaviour.
 */

/** RFC 3261 §19.1: a SIP or SIPS URI, with user/password/params/headers %-unescaped. */
export interface SipUri {
  readonly scheme: "sip" | "sips";
  readonly user: string | undefined;
  readonly password: string | undefined;
  /** lower-case; IPv6 WITHOUT brackets */
  readonly host: string;
  readonly hostType: "ipv4" | "ipv6" | "name";
  readonly port: number | undefined;
  /** keys lower-case, values unescaped, `null` for a flag parameter (`;lr`) */
  readonly params: ReadonlyMap<string, string | null>;
  readonly headers: ReadonlyMap<string, string>;
}

/** RFC 3966 tel URI. */
export interface TelUri {
  readonly scheme: "tel";
  readonly number: string;
  readonly params: ReadonlyMap<string, string | null>;
}

/** RFC 3261 §20.42 Via value. */
export interface Via {
  /** upper-case, e.g. "UDP" */
  readonly transport: string;
  /** lower-case as received; IPv6 WITHOUT brackets (like SipUri.host) */
  readonly host: string;
  readonly port: number | undefined;
  /** keys lower-case; values as written (quotes kept), `null` for flags */
  readonly params: ReadonlyMap<string, string | null>;
  readonly branch: string | undefined;
  /** brackets stripped when an IPv6 reference was written with them (RFC 5118 §4.5) */
  readonly received: string | undefined;
  /** undefined: absent, null: present without value (RFC 3581) */
  readonly rport: number | null | undefined;
  /** the via-parm exactly as it appeared (trimmed) */
  readonly raw: string;
}

/** RFC 3261 §20.10 name-addr / addr-spec with header parameters. */
export interface NameAddr {
  /** unquoted (quoted-string) or the token sequence as written; undefined when absent */
  readonly displayName: string | undefined;
  /** raw URI, no <> */
  readonly uri: string;
  /** header params, keys lower-case; values as written (quotes kept), `null` for flags */
  readonly params: ReadonlyMap<string, string | null>;
  readonly raw: string;
}

/** RFC 3261 §20.10 Contact value, RFC 5626 §4.2 instance/reg-id. */
export interface Contact extends NameAddr {
  readonly expires: number | undefined;
  readonly q: number | undefined;
  /** +sip.instance value without quotes/<> */
  readonly instance: string | undefined;
  readonly regId: number | undefined;
}

/** RFC 3261 §25.1 credentials / challenge: `scheme` then auth-params. */
export interface AuthParams {
  readonly scheme: string;
  /** keys lower-case, values unquoted */
  readonly params: ReadonlyMap<string, string>;
}

import { describe, expect, it } from "vitest";
import { SIP_VERSION } from "./index.js";
describe("sip", () => { it("version", () => { expect(SIP_VERSION).toBe("SIP/2.0"); }); });

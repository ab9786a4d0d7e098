import { describe, expect, it } from "vitest";
import { EdgeCounters } from "./counters.js";

describe("EdgeCounters", () => {
  it("counts by method, status class, rejection status:reason and drop reason", () => {
    const c = new EdgeCounters();
    c.request("REGISTER");
    c.request("REGISTER");
    c.forwarded("REGISTER");
    c.response(200);
    c.response(202);
    c.response(483);
    c.reject(483, "max-forwards");
    c.drop("too-large");
    expect(c.snapshot()).toEqual({
      requests: { REGISTER: 2 },
      forwards: { REGISTER: 1 },
      responses: { "2xx": 2, "4xx": 1 },
      rejections: { "483:max-forwards": 1 },
      drops: { "too-large": 1 },
    });
  });
});

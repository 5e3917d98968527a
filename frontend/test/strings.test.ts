import { describe, expect, it } from "vitest";
import { localize } from "../src/strings";

describe("strings", () => {
  it("fills placeholders and falls back to English", () => {
    expect(localize("en", "enlarge", { camera: "Driveway" })).toBe("Enlarge Driveway");
    expect(localize("nl", "export")).toBe("Export selection");
    expect(localize("en-GB", "export")).toBe("Export selection");
    expect(localize(undefined, "done_delete", { count: 3 })).toBe("3 segments deleted");
    expect(localize("en", "error")).toBe("Error: {message}"); // a missing value stays visible
  });
});

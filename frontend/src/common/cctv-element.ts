/** The base of the panel's elements: Home Assistant's `hass`, the strings, messages and errors. */
import { LitElement, type PropertyDeclarations } from "lit";
import type { HomeAssistant } from "../data/connection";
import { localize, type StringKey } from "../strings";
import { fireEvent, type PanelMessage } from "./fire-event";

/** The text of an error as the panel shows it (a WebSocket error's message, or the value). */
export function errorText(err: unknown): string {
  return (err as { message?: string } | null | undefined)?.message ?? String(err);
}

export class CctvElement extends LitElement {
  static override properties: PropertyDeclarations = {
    hass: { attribute: false },
  };

  hass?: HomeAssistant;

  protected t(key: StringKey, values: Record<string, string | number> = {}): string {
    return localize(this.hass?.language, key, values);
  }

  /** The connection to Home Assistant for the data wrappers (throws before `hass` is set). */
  protected get connection(): HomeAssistant {
    if (!this.hass) throw new Error("not connected");
    return this.hass;
  }

  /** Show a message under the panel's toolbar (null clears it). */
  protected notify(message: PanelMessage | null): void {
    fireEvent(this, "cctv-message", message);
  }

  protected fail(err: unknown): void {
    this.notify({ text: this.t("error", { message: errorText(err) }), error: true });
  }
}

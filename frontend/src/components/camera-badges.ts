/**
 * A camera's state badges (online or offline, recording), rendered into the caller's row so they
 * stay flex items of it (the live grid's tiles, the camera view's title row).
 */
import { html, nothing, type TemplateResult } from "lit";
import type { Camera } from "../data/cameras";
import type { StringKey } from "../strings";

export function cameraBadges(camera: Camera, t: (key: StringKey) => string): TemplateResult {
  return html`<span class="badge ${camera.online ? "ok" : "bad"}">${t(camera.online ? "online" : "offline")}</span>
      ${camera.recording ? html`<span class="badge rec">● ${t("recording")}</span>` : nothing}`;
}

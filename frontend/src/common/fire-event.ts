/** The panel's own DOM events (like Home Assistant frontend's `fireEvent`), typed by name. */
import type { Camera } from "../data/cameras";
import type { Range, View } from "../timeline";

/** A line under the toolbar: an error, or the result of an action. */
export interface PanelMessage {
  text: string;
  error: boolean;
}

/** What the timeline bar changed: any of the visible range, the keyboard cursor, the selection. */
export interface TimelineChange {
  view?: View;
  cursor?: number;
  selection?: Range | null;
}

export interface CctvEvents {
  /** Show a message under the toolbar (null clears it). */
  "cctv-message": PanelMessage | null;
  /** Open a camera's recordings (from the live grid). */
  "cctv-open-camera": { camera: Camera };
  /** The panel's own live video of a camera failed (the live grid falls back to Home Assistant's card). */
  "cctv-live-failed": { camera: string };
  /** Back from a camera's recordings to the live grid. */
  "cctv-close-camera": undefined;
  /** Exports or export jobs changed (an export started, an export deleted): load them again. */
  "cctv-exports-changed": undefined;
  /** A grant was saved in the grant editor (the Access view loads access again and closes it). */
  "cctv-grant-saved": { camera: string; user_id: string };
  /** The grant editor was closed without saving. */
  "cctv-grant-cancel": undefined;
  /** The timeline bar asks to play from a moment (a click, Enter). */
  "cctv-timeline-play": { moment: number };
  "cctv-timeline-change": TimelineChange;
}

export type CctvEvent<K extends keyof CctvEvents> = CustomEvent<CctvEvents[K]>;

export function fireEvent<K extends keyof CctvEvents>(
  node: HTMLElement,
  type: K,
  detail: CctvEvents[K],
): void {
  node.dispatchEvent(new CustomEvent(type, { detail, bubbles: true, composed: true }));
}

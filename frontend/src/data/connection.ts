/**
 * The part of Home Assistant's `hass` object the panel uses (the frontend's `HomeAssistant`
 * type, reduced to what we touch). Every WebSocket command goes through `callWS`, only from the
 * typed wrappers in this folder.
 */

/** A WebSocket command as Home Assistant's `callWS` takes it (the frontend adds the id). */
export interface WsMessage {
  type: string;
  [key: string]: unknown;
}

export interface HassEntity {
  entity_id: string;
  state: string;
  attributes: Record<string, unknown>;
}

export interface HomeAssistant {
  language?: string;
  user?: { is_admin: boolean };
  states: Record<string, HassEntity | undefined>;
  callWS<T>(msg: WsMessage): Promise<T>;
  hassUrl?(path: string): string;
}

/** A moment range in epoch seconds, as the range commands take it. */
export interface FootageRange {
  camera: string;
  start: number;
  end: number;
}

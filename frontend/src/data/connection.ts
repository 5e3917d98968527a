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

/** The WebSocket connection (home-assistant-js-websocket), for subscriptions. */
export interface Connection {
  subscribeMessage<T>(callback: (message: T) => void, msg: WsMessage): Promise<() => Promise<void>>;
}

export interface HomeAssistant {
  language?: string;
  user?: { id?: string; is_admin: boolean };
  states: Record<string, HassEntity | undefined>;
  callWS<T>(msg: WsMessage): Promise<T>;
  connection: Connection;
  hassUrl?(path: string): string;
}

/** A moment range in epoch seconds, as the range commands take it. */
export interface FootageRange {
  camera: string;
  start: number;
  end: number;
}

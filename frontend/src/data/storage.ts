/** `cctv_nvr/storage`: the recordings disk and each visible camera's footage. */
import type { HomeAssistant, WsMessage } from "./connection";

export interface CameraStorage {
  id: string;
  name: string;
  bytes: number;
  segments: number;
  oldest: number | null;
  newest: number | null;
  bitrate_kbps: number | null;
  days_that_fit: number | null;
}

export interface StorageRequest extends WsMessage {
  type: "cctv_nvr/storage";
}

export interface StorageAnswer {
  disk_total: number | null; // null: the disk could not be read
  disk_used: number | null;
  disk_free: number | null;
  footage_bytes: number;
  cameras: CameraStorage[];
}

export const storageMessage = (): StorageRequest => ({ type: "cctv_nvr/storage" });

export const fetchStorage = (hass: HomeAssistant): Promise<StorageAnswer> =>
  hass.callWS<StorageAnswer>(storageMessage());

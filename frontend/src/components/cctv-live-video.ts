/**
 * The panel's own live view of a camera (the live grid's tiles while the camera records, and
 * always for cameras whose live video is kept to the CCTV panel): hls.js over the integration's
 * live playlist, which is made from the recording being written (no second camera session; a few
 * seconds behind the camera). The playlist's EXT-X-START points a joining player at a keyframe
 * fragment (hls.js honours it), so a long-GOP camera moves as soon as the first fragments load.
 * The integration checks the user's live right and time windows on every request, so the video
 * stops when they end. A failure fires `cctv-live-failed` (the grid then shows Home Assistant's card
 * where it can); a video that failed starts again with the next camera list (every 15 s) that says
 * the camera records, unless the browser cannot decode it. While the camera does not record (its
 * live video is made from the recording), the tile says so.
 */
import { css, html, type PropertyValues, type TemplateResult } from "lit";
import Hls from "hls.js";
import { CctvElement, errorText } from "../common/cctv-element";
import { fireEvent } from "../common/fire-event";
import type { Camera } from "../data/cameras";
import { fetchLive, RenditionNeeded } from "../data/live";
import { browserPlays } from "../data/playback";

export class CctvLiveVideo extends CctvElement {
  static override properties = {
    camera: { attribute: false },
    renditions: { type: Boolean },
    _error: { state: true },
  };

  camera?: Camera;
  /**
   * Whether H.265 the browser cannot decode plays as H.264 renditions (a transcode per live
   * fragment, at most RENDITION_MAX_RUNNING for everybody). The grid's tiles of cameras that
   * Home Assistant's card can show set it false: the tile then fails over to the card.
   */
  renditions = true;
  private _error: string | null = null;
  /** Failed in a way that may pass (not the codec): start again when the camera records. */
  private _retry = false;
  private _hls: Hls | null = null;
  private _playing?: string; // the camera id the video was started for

  override disconnectedCallback(): void {
    super.disconnectedCallback();
    this._stop();
  }

  override connectedCallback(): void {
    super.connectedCallback();
    if (this.hasUpdated) void this._start();
  }

  protected override updated(changed: PropertyValues): void {
    if ((changed.has("camera") || changed.has("hass")) && this.camera && this.hass) {
      const again = changed.has("camera") && this._retry && this.camera.recording;
      if (this._playing !== this.camera.id || again) void this._start();
    }
  }

  private _stop(): void {
    this._hls?.destroy();
    this._hls = null;
    this._playing = undefined;
  }

  private async _start(): Promise<void> {
    const camera = this.camera;
    if (!camera || !this.hass) return;
    this._stop();
    this._playing = camera.id;
    this._error = null;
    this._retry = false;
    try {
      const live = await fetchLive(this.connection, camera.id, browserPlays, this.renditions);
      await this.updateComplete;
      const video = this.renderRoot.querySelector("video");
      if (!video || this._playing !== camera.id) return;
      const url = this.hass.hassUrl ? this.hass.hassUrl(live.url) : live.url;
      if (Hls.isSupported()) {
        // Latency up to 10 target durations: a long GOP's start (EXT-X-START, at most 8 s back)
        // must not be taken for "too far behind" (hls.js would then start mid-GOP, at the edge).
        const hls = new Hls({ liveSyncDurationCount: 2, liveMaxLatencyDurationCount: 10, maxBufferLength: 10 });
        hls.on(Hls.Events.ERROR, (_event, data) => {
          if (!data.fatal) return;
          const codec = data.details === Hls.ErrorDetails.BUFFER_ADD_CODEC_ERROR;
          // The live playlist answers 404 while the camera does not record.
          this._error = codec
            ? this.t("live_codec_unsupported")
            : data.response?.code === 404
              ? this.t("not_recording")
              : this.t("error", { message: data.details });
          this._retry = !codec;
          fireEvent(this, "cctv-live-failed", { camera: camera.id });
        });
        hls.loadSource(url);
        hls.attachMedia(video);
        this._hls = hls;
      } else {
        video.src = url; // Safari and the iOS companion app play HLS themselves
      }
      void video.play().catch(() => undefined);
    } catch (err) {
      // A rendition this tile declined is no error to show: the grid puts the card in its place.
      if (!(err instanceof RenditionNeeded)) this._error = errorText(err);
      this._retry = !(err instanceof RenditionNeeded);
      fireEvent(this, "cctv-live-failed", { camera: camera.id });
    }
  }

  protected override render(): TemplateResult {
    // The live video is made from the recording: without it, that is the reason to give.
    const error = this._error && this.camera && !this.camera.recording ? this.t("not_recording") : this._error;
    return error
      ? html`<div class="error" role="note">${error}</div>`
      : html`<video muted autoplay playsinline aria-label=${this.camera?.name ?? ""}></video>`;
  }

  static override styles = css`
    :host { display: block; width: 100%; height: 100%; background: #000; }
    video { width: 100%; height: 100%; object-fit: contain; display: block; }
    .error {
      width: 100%; height: 100%; display: flex; align-items: center; justify-content: center; padding: 12px;
      box-sizing: border-box; text-align: center; color: #ddd; font-size: 13px;
    }
  `;
}

declare global {
  interface HTMLElementTagNameMap {
    "cctv-live-video": CctvLiveVideo;
  }
}

if (!customElements.get("cctv-live-video")) customElements.define("cctv-live-video", CctvLiveVideo);

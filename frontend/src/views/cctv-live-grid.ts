/**
 * The live grid: a tile per camera with its live video, its state badges and the way to its
 * recordings; a tile enlarges into an overlay that Escape or a click outside closes.
 *
 * Only cameras the user may watch live now (`live_now`) get a live view; the others show why
 * not (no live right, or outside their time windows), and a camera without the recordings
 * right has no way to its recordings. What a tile plays (rights.ts `liveSource`): while the
 * camera records, the panel's own live video (`cctv-live-video`, HLS made from the recording
 * being written: moving ~2 s after the panel opens, no second camera session); when it does not
 * record, or the own video failed, Home Assistant's own live view (the dashboards'
 * picture-entity card in live mode: WebRTC/HLS as there; its HLS starts after 2 segments of
 * 6 s or more). The enlarged view keeps Home Assistant's card (WebRTC, audio). A camera whose
 * live video is kept to the CCTV panel offers no stream to Home Assistant's cards: its tiles
 * always play the panel's own live video. */
import { css, html, nothing, type PropertyValues, type TemplateResult } from "lit";
import { CctvElement } from "../common/cctv-element";
import { fireEvent } from "../common/fire-event";
import type { Camera } from "../data/cameras";
import type { HomeAssistant } from "../data/connection";
import { sharedStyles } from "../styles";
import { cameraBadges } from "../components/camera-badges";
import type { CctvEvent } from "../common/fire-event";
import { liveSource, liveTile } from "../rights";
import "../components/cctv-live-video";

/** A dashboard card as Home Assistant's card helpers create it. */
interface LovelaceCard extends HTMLElement {
  hass?: HomeAssistant;
}

interface CardHelpers {
  createCardElement(config: Record<string, unknown>): LovelaceCard;
}

declare global {
  interface Window {
    loadCardHelpers?: () => Promise<CardHelpers>;
  }
}

/** Home Assistant's panel resolver: its routes load each panel's code (the dashboards' too). */
interface PanelResolver extends HTMLElement {
  _getRoutes?: (panels: Record<string, { url_path: string; component_name: string }>) => {
    routes?: Record<string, { load?: () => Promise<unknown> }>;
  };
}

/**
 * Home Assistant's card helpers. The dashboards' code defines them, and a page opened on the
 * panel itself (a bookmark, a reload) has not loaded that code: without it every tile kept its
 * still picture. It is loaded here the way Home Assistant's panel resolver loads a dashboard
 * (its routes are not a public API: when they change, the tiles show the still picture again).
 */
export const loadCardHelpers = async (): Promise<CardHelpers | undefined> => {
  if (!window.loadCardHelpers) {
    try {
      await customElements.whenDefined("partial-panel-resolver");
      const resolver = document.createElement("partial-panel-resolver") as PanelResolver;
      const routes = resolver._getRoutes?.({ lovelace: { url_path: "lovelace", component_name: "lovelace" } }).routes;
      await routes?.lovelace?.load?.();
    } catch {
      // no card helpers: the tiles keep the still picture
    }
  }
  return window.loadCardHelpers?.();
};

const showsLive = (camera: Camera): boolean => ["card", "panel"].includes(liveTile(camera));

export class CctvLiveGrid extends CctvElement {
  static override properties = {
    cameras: { attribute: false },
    _enlarged: { state: true },
    _ownFailed: { state: true },
  };

  cameras: Camera[] = [];
  private _enlarged: Camera | null = null;
  /** The live cards, kept while the grid is away (a camera's recordings) so streams resume. */
  private _cards = new Map<string, LovelaceCard>();
  private _cardHelpers?: Promise<CardHelpers | undefined>;
  /** Cameras whose own live video failed: their grid tile shows Home Assistant's card instead. */
  private _ownFailed = new Set<string>();

  override connectedCallback(): void {
    super.connectedCallback();
    window.addEventListener("keydown", this._onKey);
  }

  override disconnectedCallback(): void {
    super.disconnectedCallback();
    window.removeEventListener("keydown", this._onKey);
  }

  protected override willUpdate(changed: PropertyValues<this>): void {
    if (!changed.has("cameras")) return;
    // Forget the live cards of cameras the user may no longer watch live (and stop them).
    const live = new Set(this.cameras.filter(showsLive).map((c) => c.entity_id));
    for (const key of [...this._cards.keys()]) {
      if (!live.has(key.slice(key.indexOf(":") + 1))) this._cards.delete(key);
    }
    // A camera that stopped recording tries its own live video again when it records again.
    const recording = new Set(this.cameras.filter((c) => c.recording).map((c) => c.id));
    if ([...this._ownFailed].some((id) => !recording.has(id))) {
      this._ownFailed = new Set([...this._ownFailed].filter((id) => recording.has(id)));
    }
    if (this._enlarged) {
      const fresh = this.cameras.find((c) => c.id === this._enlarged?.id);
      this._enlarged = fresh && showsLive(fresh) ? fresh : null;
    }
  }

  protected override updated(changed: PropertyValues): void {
    if (changed.has("hass")) {
      for (const card of this._cards.values()) card.hass = this.hass;
    }
  }

  private _onKey = (ev: KeyboardEvent): void => {
    if (ev.key === "Escape" && this._enlarged) this._enlarged = null;
  };

  private _onLiveFailed = (ev: CctvEvent<"cctv-live-failed">): void => {
    const id = ev.detail.camera;
    const camera = this.cameras.find((c) => c.id === id);
    // A camera kept to the panel has no other live view: its tile shows the error.
    if (!camera || liveTile(camera) !== "card" || this._ownFailed.has(id)) return;
    this._ownFailed = new Set([...this._ownFailed, id]);
  };

  private _open(camera: Camera): void {
    this._enlarged = null;
    fireEvent(this, "cctv-open-camera", { camera });
  }

  /**
   * The live view of a tile ("grid") or of the enlarged view ("big"): the panel's own live video,
   * or a dashboard picture-entity card in live mode (HA's own streaming: WebRTC/HLS).
   */
  private _liveCard(camera: Camera, key: "grid" | "big"): TemplateResult {
    const source = liveSource(camera, { enlarged: key === "big", ownFailed: this._ownFailed.has(camera.id) });
    if (source === "panel") {
      // A camera Home Assistant's card can show gets no live rendition in a tile: the tile falls
      // back to the card (its H.264 sub stream, when it has one) instead of a transcode per fragment.
      return html`<cctv-live-video
        .hass=${this.hass}
        .camera=${camera}
        .renditions=${liveTile(camera) === "panel"}
        @cctv-live-failed=${this._onLiveFailed}
      ></cctv-live-video>`;
    }
    const entityId = camera.entity_id;
    if (!entityId) return html``;
    const cacheKey = `${key}:${entityId}`;
    const card = this._cards.get(cacheKey);
    if (card) return html`${card}`;
    if (!this._cardHelpers) {
      this._cardHelpers = loadCardHelpers();
      void this._cardHelpers.then(() => this.requestUpdate());
    } else {
      void this._cardHelpers.then((h) => {
        if (!h || this._cards.has(cacheKey)) return;
        const created = h.createCardElement({
          type: "picture-entity",
          entity: entityId,
          camera_view: "live",
          show_name: false,
          show_state: false,
          tap_action: { action: "none" },
        });
        created.hass = this.hass;
        this._cards.set(cacheKey, created);
        this.requestUpdate();
      });
    }
    const token = this.hass?.states[entityId]?.attributes?.access_token;
    return token
      ? html`<img class="still" alt=${camera.name} src="/api/camera_proxy/${entityId}?token=${token}" />`
      : html`<div class="still placeholder"></div>`;
  }

  /** Why there is no live view: not allowed, or not now (outside the user's time windows). */
  private _placeholder(camera: Camera): TemplateResult {
    const reason = liveTile(camera) === "not_now" ? this.t("live_outside_windows") : this.t("live_no_right");
    return html`<div class="no-live" role="note">
      <strong>${this.t("live_not_now")}</strong>
      <span>${reason}</span>
    </div>`;
  }

  private _openButton(camera: Camera): TemplateResult {
    return camera.rights.includes("recordings")
      ? html`<button class="open" @click=${() => this._open(camera)}>${this.t("recordings")}</button>`
      : html`<span class="hint no-recordings">${this.t("no_recordings_right")}</span>`;
  }

  protected override render(): TemplateResult {
    if (!this.cameras.length) return html`<p class="empty">${this.t("no_cameras")}</p>`;
    return html`<div class="grid">
        ${this.cameras.map(
          (camera) => html`<section class="tile" data-camera=${camera.id}>
            ${showsLive(camera)
              ? html`<button class="view" aria-label=${this.t("enlarge", { camera: camera.name })} @click=${() => (this._enlarged = camera)}>
                  ${this._liveCard(camera, "grid")}
                </button>`
              : this._placeholder(camera)}
            <div class="tile-bar">
              <span class="name">${camera.name}</span>
              ${cameraBadges(camera, (key) => this.t(key))}
              ${this._openButton(camera)}
            </div>
          </section>`,
        )}
      </div>
      ${this._enlarged ? this._renderEnlarged(this._enlarged) : nothing}`;
  }

  private _renderEnlarged(camera: Camera): TemplateResult {
    return html`<div class="overlay" role="dialog" aria-modal="true" aria-label=${camera.name} @click=${() => (this._enlarged = null)}>
      <div class="big" @click=${(ev: Event) => ev.stopPropagation()}>
        <div class="tile-bar">
          <span class="name">${camera.name}</span>${cameraBadges(camera, (key) => this.t(key))}
          ${this._openButton(camera)}
          <button class="close" aria-label=${this.t("close")} @click=${() => (this._enlarged = null)}>×</button>
        </div>
        ${this._liveCard(camera, "big")}
      </div>
    </div>`;
  }

  static override styles = [
    sharedStyles,
    css`
      .grid { display: grid; grid-template-columns: repeat(auto-fill, minmax(320px, 1fr)); gap: 12px; }
      .view { display: block; width: 100%; padding: 0; border: none; border-radius: 0; background: #000; aspect-ratio: 16 / 9; overflow: hidden; }
      .view > * { pointer-events: none; }
      .still { width: 100%; height: 100%; object-fit: contain; display: block; }
      .placeholder { background: #111; }
      .no-live {
        aspect-ratio: 16 / 9; display: flex; flex-direction: column; align-items: center; justify-content: center;
        gap: 6px; padding: 12px; box-sizing: border-box; text-align: center;
        background: var(--secondary-background-color, #eee); color: var(--secondary-text-color, #666);
      }
      .no-live strong { color: var(--primary-text-color, #212121); font-weight: 500; }
      .tile-bar .no-recordings { margin-left: auto; font-size: 13px; }
      .tile-bar .open { margin-left: auto; }
      .overlay { position: fixed; inset: 0; background: rgba(0, 0, 0, 0.75); display: flex; align-items: center; justify-content: center; z-index: 10; padding: 12px; }
      .big { width: min(1200px, 100%); }
      .close { margin-left: 8px; }
      @media (max-width: 600px) {
        .grid { grid-template-columns: 1fr; }
      }
    `,
  ];
}

declare global {
  interface HTMLElementTagNameMap {
    "cctv-live-grid": CctvLiveGrid;
  }
}

if (!customElements.get("cctv-live-grid")) customElements.define("cctv-live-grid", CctvLiveGrid);

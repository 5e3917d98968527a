/**
 * The CCTV sidebar panel (the custom element `cctv-panel` Home Assistant loads): the toolbar
 * with the tabs, messages, and the route between the views: the live grid or a camera's
 * recordings (views/cctv-live-grid, views/cctv-camera-view), the exports, the storage, and for
 * administrators access (views/cctv-access-view) and the audit trail (views/cctv-audit-view).
 * The shell loads the cameras (every 15 s, and whenever access changes: it subscribes to
 * `cctv_nvr/subscribe_access` while it is on the page) and the exports (every second while one
 * is queued or being written), which several views show. When the user may no longer see the
 * open camera's recordings, its view closes. The views talk to the integration's
 * `cctv_nvr/...` WebSocket commands through the typed wrappers in data/; playback and
 * downloads use the signed URLs those return.
 */
import { css, html, nothing, type PropertyValues, type TemplateResult } from "lit";
import { cache } from "lit/directives/cache.js";
import { CctvElement } from "./common/cctv-element";
import type { CctvEvent, PanelMessage } from "./common/fire-event";
import { subscribeAccess } from "./data/access";
import { type Camera, fetchCameras } from "./data/cameras";
import { type ExportItem, type ExportJob, fetchExports, hasRunningJob } from "./data/exports";
import { type Tab, reopenCamera, tabsFor } from "./rights";
import { sharedStyles } from "./styles";
import "./views/cctv-access-view";
import "./views/cctv-audit-view";
import "./views/cctv-camera-view";
import "./views/cctv-exports-view";
import "./views/cctv-live-grid";
import "./views/cctv-storage-view";

export class CctvPanel extends CctvElement {
  static override properties = {
    narrow: { type: Boolean },
    panel: { attribute: false },
    _cameras: { state: true },
    _admin: { state: true },
    _zone: { state: true },
    _tab: { state: true },
    _camera: { state: true },
    _exports: { state: true },
    _jobs: { state: true },
    _message: { state: true },
  };

  narrow = false;
  panel?: unknown;
  private _cameras: Camera[] = [];
  private _admin = false;
  private _zone = "UTC";
  private _tab: Tab = "live";
  private _camera: Camera | null = null; // the camera whose recordings are open
  private _exports: ExportItem[] = [];
  private _jobs: ExportJob[] = [];
  private _message: PanelMessage | null = null;
  private _poll?: number;
  private _refresh?: number;
  private _unsubscribeAccess?: Promise<() => Promise<void>>;

  override connectedCallback(): void {
    super.connectedCallback();
    this._refresh = window.setInterval(() => void this._loadCameras(), 15000);
    if (this.hass) this._subscribeAccess();
  }

  override disconnectedCallback(): void {
    super.disconnectedCallback();
    window.clearInterval(this._refresh);
    window.clearInterval(this._poll);
    this._poll = undefined;
    this._unsubscribe();
  }

  protected override updated(changed: PropertyValues<this>): void {
    if (changed.has("hass") && this.hass && this.isConnected && !this._unsubscribeAccess) this._subscribeAccess();
  }

  /** Told when access changes (grants, defaults; here or in Home Assistant's settings). */
  private _subscribeAccess(): void {
    const subscription = subscribeAccess(this.connection, () => void this._accessChanged());
    this._unsubscribeAccess = subscription;
    subscription.catch((err: unknown) => {
      if (this._unsubscribeAccess === subscription) this._unsubscribeAccess = undefined;
      this.fail(err);
    });
  }

  private _unsubscribe(): void {
    const subscription = this._unsubscribeAccess;
    this._unsubscribeAccess = undefined;
    void subscription?.then((unsubscribe) => unsubscribe()).catch(() => undefined);
  }

  private async _accessChanged(): Promise<void> {
    await this._loadCameras();
    void this._loadExports();
    if (this._tab === "access") void this.renderRoot.querySelector("cctv-access-view")?.refresh();
  }

  protected override firstUpdated(): void {
    void this._loadCameras();
    void this._loadExports();
  }

  /** The shell shows its own messages (the views' come as `cctv-message` events). */
  protected override notify(message: PanelMessage | null): void {
    this._message = message;
  }

  private async _loadCameras(): Promise<void> {
    try {
      const result = await fetchCameras(this.connection);
      this._cameras = result.cameras;
      this._admin = result.admin;
      this._zone = result.time_zone;
      const open = reopenCamera(this._camera, result.cameras);
      if (open.closed && this._camera) {
        this._message = { text: this.t("access_changed", { camera: this._camera.name }), error: true };
      }
      this._camera = open.camera;
      if (!tabsFor(result.admin).includes(this._tab)) this._tab = "live";
    } catch (err) {
      this.fail(err);
    }
  }

  private async _loadExports(): Promise<void> {
    try {
      const result = await fetchExports(this.connection);
      this._exports = result.exports;
      this._jobs = result.jobs;
      const running = hasRunningJob(result.jobs);
      if (running && this._poll === undefined) {
        this._poll = window.setInterval(() => void this._loadExports(), 1000);
      } else if (!running && this._poll !== undefined) {
        window.clearInterval(this._poll);
        this._poll = undefined;
      }
    } catch (err) {
      this.fail(err);
    }
  }

  private async _selectTab(tab: Tab): Promise<void> {
    this._tab = tab;
    if (tab === "exports") void this._loadExports();
    if (tab === "storage" || tab === "access" || tab === "audit") {
      await this.updateComplete;
      void this.renderRoot.querySelector(`cctv-${tab}-view`)?.refresh();
    }
  }

  private _onMessage(ev: CctvEvent<"cctv-message">): void {
    this._message = ev.detail;
  }

  private _onOpenCamera(ev: CctvEvent<"cctv-open-camera">): void {
    this._message = null;
    this._camera = ev.detail.camera;
  }

  protected override render(): TemplateResult {
    return html`
      <div class="toolbar">
        ${this.narrow ? html`<ha-menu-button .hass=${this.hass} .narrow=${this.narrow}></ha-menu-button>` : nothing}
        <h1>${this.t("title")}</h1>
        <nav role="tablist">
          ${tabsFor(this._admin).map(
            (tab) => html`<button
              role="tab"
              class="tab"
              aria-selected=${this._tab === tab}
              @click=${() => void this._selectTab(tab)}
            >
              ${this.t(tab)}
            </button>`,
          )}
        </nav>
        ${this._admin
          ? html`<a class="settings" href="/config/integrations/integration/cctv_nvr">${this.t("settings")}</a>`
          : nothing}
      </div>
      ${this._message
        ? html`<div class="message ${this._message.error ? "error" : ""}" role="status">
            ${this._message.text}
            <button class="link" aria-label=${this.t("close")} @click=${() => (this._message = null)}>×</button>
          </div>`
        : nothing}
      <main
        @cctv-message=${this._onMessage}
        @cctv-open-camera=${this._onOpenCamera}
        @cctv-close-camera=${() => (this._camera = null)}
        @cctv-exports-changed=${() => void this._loadExports()}
      >
        ${cache(this._renderTab())}
      </main>
    `;
  }

  /** The views of the other tabs stay in memory (their state, the live cards) while hidden. */
  private _renderTab(): TemplateResult {
    if (this._tab === "exports") {
      return html`<cctv-exports-view
        .hass=${this.hass}
        .cameras=${this._cameras}
        .exports=${this._exports}
        .jobs=${this._jobs}
        .zone=${this._zone}
        .admin=${this._admin}
      ></cctv-exports-view>`;
    }
    if (this._tab === "storage") {
      return html`<cctv-storage-view .hass=${this.hass} .zone=${this._zone}></cctv-storage-view>`;
    }
    if (this._tab === "access") {
      return html`<cctv-access-view .hass=${this.hass} .zone=${this._zone}></cctv-access-view>`;
    }
    if (this._tab === "audit") {
      return html`<cctv-audit-view .hass=${this.hass} .zone=${this._zone} .cameras=${this._cameras}></cctv-audit-view>`;
    }
    // The live grid steps aside for a camera's recordings (kept, with its live cards, for later).
    return html`${cache(
        this._camera ? nothing : html`<cctv-live-grid .hass=${this.hass} .cameras=${this._cameras}></cctv-live-grid>`,
      )}<cctv-camera-view
        .hass=${this.hass}
        .camera=${this._camera}
        .zone=${this._zone}
        .admin=${this._admin}
        .exports=${this._exports}
        .jobs=${this._jobs}
      ></cctv-camera-view>`;
  }

  static override styles = [
    sharedStyles,
    css`
      :host {
        display: block;
        min-height: 100%;
        background: var(--primary-background-color, #fafafa);
        color: var(--primary-text-color, #212121);
        font-family: var(--paper-font-body1_-_font-family, Roboto, sans-serif);
      }
      .toolbar {
        display: flex;
        align-items: center;
        gap: 8px;
        flex-wrap: wrap;
        padding: 0 12px;
        min-height: 56px;
        background: var(--app-header-background-color, var(--primary-color, #03a9f4));
        color: var(--app-header-text-color, #fff);
      }
      h1 { font-size: 20px; font-weight: 400; margin: 0 12px 0 0; }
      nav { display: flex; gap: 4px; }
      .tab { background: transparent; color: inherit; border: none; border-bottom: 2px solid transparent; border-radius: 0; }
      .tab[aria-selected="true"] { border-bottom-color: currentColor; }
      .settings { color: inherit; margin-left: auto; }
      main { padding: 12px; }
      .toolbar button { color: inherit; }
      .message { margin: 8px 12px 0; padding: 8px 12px; border-radius: 6px; background: var(--secondary-background-color, #eee); display: flex; justify-content: space-between; align-items: center; }
      .message.error { color: var(--error-color, #db4437); }
      @media (max-width: 600px) {
        main { padding: 6px; }
      }
    `,
  ];
}

declare global {
  interface HTMLElementTagNameMap {
    "cctv-panel": CctvPanel;
  }
}

if (!customElements.get("cctv-panel")) customElements.define("cctv-panel", CctvPanel);

/**
 * The CCTV sidebar panel: live grid, per-camera day timeline with playback, export,
 * admin actions and storage. Talks only to the integration's `cctv_nvr/...` WebSocket
 * commands; playback and downloads use the signed URLs they return.
 */
import { LitElement, css, html, nothing, type PropertyValues, type TemplateResult } from "lit";
import Hls from "hls.js";
import { localize, type StringKey } from "./strings";
import {
  type EventBox,
  type Range,
  type TimelineData,
  type View,
  addDays,
  adjacentEvent,
  clampView,
  dayBounds,
  formatBytes,
  formatClock,
  formatDuration,
  layoutEvents,
  layoutRanges,
  localDate,
  mediaToWall,
  normalizeSelection,
  panView,
  playableFrom,
  ticks,
  timeOf,
  zoomView,
} from "./timeline";

/* eslint-disable @typescript-eslint/no-explicit-any */
interface Hass {
  language?: string;
  user?: { is_admin: boolean };
  states: Record<string, any>;
  callWS<T>(msg: Record<string, unknown>): Promise<T>;
  hassUrl?(path: string): string;
}

interface Camera {
  id: string;
  name: string;
  entry_id: string;
  entity_id: string | null;
  online: boolean;
  recording: boolean;
}

interface CamerasResult {
  cameras: Camera[];
  admin: boolean;
  time_zone: string;
}

interface ExportItem {
  id: number;
  camera: string;
  name: string;
  start: number;
  end: number;
  bytes: number;
  duration: number | null;
  created: number;
  url: string;
}

interface ExportJob {
  id: string;
  camera: string;
  start: number;
  end: number;
  status: "running" | "done" | "failed";
  started: number;
  export_id: number | null;
  error: string | null;
}

interface StorageResult {
  disk_total: number | null;
  disk_used: number | null;
  disk_free: number | null;
  footage_bytes: number;
  cameras: {
    id: string;
    name: string;
    bytes: number;
    oldest: number | null;
    bitrate_kbps: number | null;
    days_that_fit: number | null;
  }[];
}

interface Playback {
  url: string;
  start: number;
  end: number;
  first: number;
}

type Tab = "live" | "exports" | "storage";
const SPEEDS = [0.5, 1, 2, 4, 8, 16];
const TIMELINE_WIDTH = 1000; // layout units; the bar scales to its element's width

export class CctvPanel extends LitElement {
  static properties = {
    hass: { attribute: false },
    narrow: { type: Boolean },
    panel: { attribute: false },
    _cameras: { state: true },
    _admin: { state: true },
    _zone: { state: true },
    _tab: { state: true },
    _camera: { state: true },
    _enlarged: { state: true },
    _date: { state: true },
    _timeline: { state: true },
    _view: { state: true },
    _selection: { state: true },
    _playing: { state: true },
    _playback: { state: true },
    _speed: { state: true },
    _exports: { state: true },
    _jobs: { state: true },
    _storage: { state: true },
    _message: { state: true },
    _cursor: { state: true },
  };

  hass?: Hass;
  narrow = false;
  panel?: unknown;
  private _cameras: Camera[] = [];
  private _admin = false;
  private _zone = "UTC";
  private _tab: Tab = "live";
  private _camera: Camera | null = null;
  private _enlarged: Camera | null = null;
  private _date = "";
  private _timeline: TimelineData | null = null;
  private _view: View | null = null;
  private _selection: Range | null = null;
  private _playing: number | null = null;
  private _playback: Playback | null = null;
  private _speed = 1;
  private _exports: ExportItem[] = [];
  private _jobs: ExportJob[] = [];
  private _storage: StorageResult | null = null;
  private _message: { text: string; error: boolean } | null = null;
  private _cursor: number | null = null;
  private _hls: Hls | null = null;
  private _poll?: number;
  private _refresh?: number;
  private _drag: { from: number; moved: boolean } | null = null;
  private _cards = new Map<string, HTMLElement>();
  private _cardHelpers?: Promise<any>;
  private _barWidth = TIMELINE_WIDTH; // the timeline's width in CSS pixels
  private _resize?: ResizeObserver;

  private t(key: StringKey, values: Record<string, string | number> = {}): string {
    return localize(this.hass?.language, key, values);
  }

  connectedCallback(): void {
    super.connectedCallback();
    this._refresh = window.setInterval(() => void this._loadCameras(), 15000);
    window.addEventListener("keydown", this._onKey);
  }

  disconnectedCallback(): void {
    super.disconnectedCallback();
    window.clearInterval(this._refresh);
    window.clearInterval(this._poll);
    window.removeEventListener("keydown", this._onKey);
    this._resize?.disconnect();
    this._resize = undefined;
    this._stop();
  }

  protected firstUpdated(): void {
    void this._loadCameras();
    void this._loadExports();
  }

  protected updated(changed: PropertyValues): void {
    if (changed.has("hass")) {
      for (const card of this._cards.values()) (card as any).hass = this.hass;
    }
    const bar = this.renderRoot.querySelector<HTMLElement>(".timeline");
    if (bar && !this._resize) {
      this._resize = new ResizeObserver((entries) => {
        const width = entries[0]?.contentRect.width;
        if (width && Math.abs(width - this._barWidth) > 1) {
          this._barWidth = width;
          this.requestUpdate();
        }
      });
      this._resize.observe(bar);
    } else if (!bar && this._resize) {
      this._resize.disconnect();
      this._resize = undefined;
    }
  }

  private async _ws<T>(msg: Record<string, unknown>): Promise<T> {
    if (!this.hass) throw new Error("not connected");
    return this.hass.callWS<T>(msg);
  }

  private _fail(err: unknown): void {
    const message = (err as { message?: string })?.message ?? String(err);
    this._message = { text: this.t("error", { message }), error: true };
  }

  private async _loadCameras(): Promise<void> {
    try {
      const result = await this._ws<CamerasResult>({ type: "cctv_nvr/cameras" });
      this._cameras = result.cameras;
      this._admin = result.admin;
      this._zone = result.time_zone;
    } catch (err) {
      this._fail(err);
    }
  }

  private async _loadExports(): Promise<void> {
    try {
      const result = await this._ws<{ exports: ExportItem[]; jobs: ExportJob[] }>({
        type: "cctv_nvr/exports",
      });
      this._exports = result.exports;
      this._jobs = result.jobs;
      const running = result.jobs.some((job) => job.status === "running");
      if (running && this._poll === undefined) {
        this._poll = window.setInterval(() => void this._loadExports(), 1000);
      } else if (!running && this._poll !== undefined) {
        window.clearInterval(this._poll);
        this._poll = undefined;
      }
    } catch (err) {
      this._fail(err);
    }
  }

  private async _loadStorage(): Promise<void> {
    try {
      this._storage = await this._ws<StorageResult>({ type: "cctv_nvr/storage" });
    } catch (err) {
      this._fail(err);
    }
  }

  // -- camera timeline ----------------------------------------------------------------

  private async _openCamera(camera: Camera): Promise<void> {
    this._enlarged = null;
    this._camera = camera;
    this._selection = null;
    this._message = null;
    this._stop();
    await this._loadDay(localDate(Date.now() / 1000, this._zone));
  }

  private _closeCamera(): void {
    this._stop();
    this._camera = null;
    this._timeline = null;
  }

  private async _loadDay(date: string): Promise<void> {
    if (!this._camera) return;
    this._date = date;
    try {
      const timeline = await this._ws<TimelineData>({
        type: "cctv_nvr/timeline",
        camera: this._camera.id,
        date,
      });
      this._timeline = timeline;
      this._view = { start: timeline.start, end: timeline.end };
    } catch (err) {
      this._fail(err);
    }
  }

  private _bounds(): View {
    const tl = this._timeline!;
    return { start: tl.start, end: tl.end };
  }

  /** Where a selection may lie: the day, up to now. */
  private _selectable(): View {
    const tl = this._timeline!;
    return { start: tl.start, end: Math.min(tl.end, Date.now() / 1000) };
  }

  private _zoom(factor: number, center?: number): void {
    if (!this._view || !this._timeline) return;
    this._view = zoomView(this._view, this._bounds(), factor, center ?? this._playing ?? undefined);
  }

  private _pan(fraction: number): void {
    if (!this._view || !this._timeline) return;
    this._view = panView(this._view, this._bounds(), (this._view.end - this._view.start) * fraction);
  }

  private _timeAtPointer(ev: PointerEvent | WheelEvent): number {
    const bar = ev.currentTarget as HTMLElement;
    const rect = bar.getBoundingClientRect();
    return timeOf(ev.clientX - rect.left, this._view!, rect.width);
  }

  private _onPointerDown(ev: PointerEvent): void {
    if (!this._view) return;
    (ev.currentTarget as HTMLElement).setPointerCapture?.(ev.pointerId);
    this._drag = { from: this._timeAtPointer(ev), moved: false };
  }

  private _onPointerMove(ev: PointerEvent): void {
    if (!this._drag || !this._view) return;
    const now = this._timeAtPointer(ev);
    const rect = (ev.currentTarget as HTMLElement).getBoundingClientRect();
    const pixels = (Math.abs(now - this._drag.from) / (this._view.end - this._view.start)) * rect.width;
    if (pixels > 4) this._drag.moved = true;
    if (this._drag.moved) this._selection = normalizeSelection(this._drag.from, now, this._selectable());
  }

  private _onPointerUp(ev: PointerEvent): void {
    if (!this._drag) return;
    const drag = this._drag;
    this._drag = null;
    if (!drag.moved) void this._play(this._timeAtPointer(ev));
  }

  private _onWheel(ev: WheelEvent): void {
    if (!this._view) return;
    ev.preventDefault();
    this._zoom(ev.deltaY > 0 ? 1.25 : 0.8, this._timeAtPointer(ev));
  }

  private _onTimelineKey(ev: KeyboardEvent): void {
    if (!this._view) return;
    const step = (this._view.end - this._view.start) / 50;
    const cursor = this._cursor ?? this._playing ?? this._view.start;
    if (ev.key === "ArrowLeft" || ev.key === "ArrowRight") {
      ev.preventDefault();
      const moved = cursor + (ev.key === "ArrowLeft" ? -step : step);
      this._cursor = Math.min(Math.max(moved, this._timeline!.start), this._timeline!.end);
      if (this._cursor < this._view.start || this._cursor > this._view.end) {
        this._view = clampView(
          { start: this._cursor - (this._view.end - this._view.start) / 2, end: this._cursor + (this._view.end - this._view.start) / 2 },
          this._bounds(),
        );
      }
    } else if (ev.key === "Enter" || ev.key === " ") {
      ev.preventDefault();
      void this._play(cursor);
    } else if (ev.key === "+" || ev.key === "=") {
      this._zoom(0.5, cursor);
    } else if (ev.key === "-") {
      this._zoom(2, cursor);
    }
  }

  private _onKey = (ev: KeyboardEvent): void => {
    if (ev.key === "Escape" && this._enlarged) this._enlarged = null;
  };

  // -- playback -----------------------------------------------------------------------

  private get _video(): HTMLVideoElement | null {
    return this.renderRoot.querySelector("video");
  }

  private async _play(moment: number): Promise<void> {
    if (!this._camera || !this._timeline) return;
    const from = playableFrom(this._timeline.spans, moment);
    if (from === null) {
      this._message = { text: this.t("gap"), error: false };
      return;
    }
    const end = Math.min(this._timeline.end, Math.max(this._timeline.now, from + 1), from + 86400);
    try {
      const playback = await this._ws<Playback>({
        type: "cctv_nvr/playback",
        camera: this._camera.id,
        start: Math.floor(from),
        end: Math.max(Math.ceil(end), Math.floor(from) + 1),
      });
      this._message = null;
      this._playback = playback;
      this._playing = from;
      this._cursor = null;
      await this.updateComplete;
      this._attach(playback, from);
    } catch (err) {
      this._fail(err);
    }
  }

  private _attach(playback: Playback, from: number): void {
    const video = this._video;
    if (!video) return;
    this._hls?.destroy();
    this._hls = null;
    const url = this.hass?.hassUrl ? this.hass.hassUrl(playback.url) : playback.url;
    const offset = Math.max(0, from - playback.first);
    if (Hls.isSupported()) {
      const hls = new Hls({ startPosition: offset, maxBufferLength: 30 });
      hls.on(Hls.Events.ERROR, (_event, data) => {
        if (data.fatal) this._message = { text: this.t("error", { message: data.details }), error: true };
      });
      hls.on(Hls.Events.MANIFEST_PARSED, () => {
        video.playbackRate = this._speed;
        void video.play().catch(() => undefined);
      });
      hls.loadSource(url);
      hls.attachMedia(video);
      this._hls = hls;
    } else {
      video.src = url;
      video.addEventListener(
        "loadedmetadata",
        () => {
          video.currentTime = offset;
          video.playbackRate = this._speed;
          void video.play().catch(() => undefined);
        },
        { once: true },
      );
    }
  }

  private _stop(): void {
    this._hls?.destroy();
    this._hls = null;
    this._playback = null;
    this._playing = null;
  }

  /** The wall-clock moment on screen: hls.js knows it from EXT-X-PROGRAM-DATE-TIME. */
  private _onTimeUpdate(): void {
    const video = this._video;
    if (!video || !this._playback || !this._timeline) return;
    const date = this._hls?.playingDate;
    this._playing = date
      ? date.getTime() / 1000
      : mediaToWall(this._timeline.spans, this._playback.first, video.currentTime);
    const view = this._view;
    if (view && this._playing > view.end && !this._drag) {
      this._view = panView(view, this._bounds(), this._playing - view.end + (view.end - view.start) * 0.1);
    }
  }

  private _setSpeed(speed: number): void {
    this._speed = speed;
    const video = this._video;
    if (video) video.playbackRate = speed;
  }

  private _jumpEvent(dir: -1 | 1): void {
    if (!this._timeline) return;
    const at = this._playing ?? this._cursor ?? this._timeline.start;
    const event = adjacentEvent(this._timeline.events, at, dir);
    if (event) void this._play(event.start);
  }

  private _mark(which: 0 | 1): void {
    const at = this._playing ?? this._cursor;
    if (at === null || !this._timeline) return;
    const [a, b] = this._selection ?? [at, at];
    this._selection = which === 0
      ? normalizeSelection(at, Math.max(b, at + 1), this._selectable())
      : normalizeSelection(Math.min(a, at - 1), at, this._selectable());
  }

  // -- export and admin actions -------------------------------------------------------

  private async _export(): Promise<void> {
    if (!this._camera || !this._selection) return;
    try {
      await this._ws({
        type: "cctv_nvr/export",
        camera: this._camera.id,
        start: this._selection[0],
        end: this._selection[1],
      });
      await this._loadExports();
    } catch (err) {
      this._fail(err);
    }
  }

  private async _admin_action(kind: "protect" | "unprotect" | "delete"): Promise<void> {
    if (!this._camera || !this._selection) return;
    const [start, end] = this._selection;
    if (
      kind === "delete" &&
      !window.confirm(
        this.t("confirm_delete", {
          camera: this._camera.name,
          start: formatClock(start, this._zone),
          end: formatClock(end, this._zone),
        }),
      )
    ) {
      return;
    }
    try {
      const result = await this._ws<{ segments: number }>({
        type: `cctv_nvr/${kind}`,
        camera: this._camera.id,
        start,
        end,
      });
      this._message = { text: this.t(`done_${kind}`, { count: result.segments }), error: false };
      if (kind === "delete") {
        this._stop();
        await this._loadDay(this._date);
      }
    } catch (err) {
      this._fail(err);
    }
  }

  private async _deleteExport(item: ExportItem): Promise<void> {
    try {
      await this._ws({ type: "cctv_nvr/delete_export", export_id: item.id });
      await this._loadExports();
    } catch (err) {
      this._fail(err);
    }
  }

  // -- live tiles ---------------------------------------------------------------------

  /** A dashboard picture-entity card in live mode (HA's own streaming: WebRTC/HLS). */
  private _liveCard(camera: Camera, key: string): TemplateResult {
    const entityId = camera.entity_id;
    if (!entityId) return html``;
    const cacheKey = `${key}:${entityId}`;
    let card = this._cards.get(cacheKey);
    if (!card) {
      const helpers = ((window as any).loadCardHelpers as (() => Promise<any>) | undefined);
      if (helpers) {
        this._cardHelpers ??= helpers();
        void this._cardHelpers.then((h) => {
          const created: HTMLElement = h.createCardElement({
            type: "picture-entity",
            entity: entityId,
            camera_view: "live",
            show_name: false,
            show_state: false,
            tap_action: { action: "none" },
          });
          (created as any).hass = this.hass;
          this._cards.set(cacheKey, created);
          this.requestUpdate();
        });
      }
      const state = this.hass?.states[entityId];
      const token = state?.attributes?.access_token;
      return token
        ? html`<img class="still" alt=${camera.name} src="/api/camera_proxy/${entityId}?token=${token}" />`
        : html`<div class="still placeholder"></div>`;
    }
    return html`${card}`;
  }

  // -- rendering ----------------------------------------------------------------------

  protected render(): TemplateResult {
    return html`
      <div class="toolbar">
        ${this.narrow ? html`<ha-menu-button .hass=${this.hass} .narrow=${this.narrow}></ha-menu-button>` : nothing}
        <h1>${this.t("title")}</h1>
        <nav role="tablist">
          ${(["live", "exports", "storage"] as Tab[]).map(
            (tab) => html`<button
              role="tab"
              class="tab"
              aria-selected=${this._tab === tab}
              @click=${() => this._selectTab(tab)}
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
      <main>
        ${this._tab === "live"
          ? this._camera
            ? this._renderCamera()
            : this._renderGrid()
          : this._tab === "exports"
            ? this._renderExports()
            : this._renderStorage()}
      </main>
      ${this._enlarged ? this._renderEnlarged(this._enlarged) : nothing}
    `;
  }

  private _selectTab(tab: Tab): void {
    this._tab = tab;
    if (tab === "exports") void this._loadExports();
    if (tab === "storage") void this._loadStorage();
  }

  private _badges(camera: Camera): TemplateResult {
    return html`<span class="badge ${camera.online ? "ok" : "bad"}">${this.t(camera.online ? "online" : "offline")}</span>
      ${camera.recording ? html`<span class="badge rec">● ${this.t("recording")}</span>` : nothing}`;
  }

  private _renderGrid(): TemplateResult {
    if (!this._cameras.length) return html`<p class="empty">${this.t("no_cameras")}</p>`;
    return html`<div class="grid">
      ${this._cameras.map(
        (camera) => html`<section class="tile" data-camera=${camera.id}>
          <button class="view" aria-label=${this.t("enlarge", { camera: camera.name })} @click=${() => (this._enlarged = camera)}>
            ${this._liveCard(camera, "grid")}
          </button>
          <div class="tile-bar">
            <span class="name">${camera.name}</span>
            ${this._badges(camera)}
            <button class="open" @click=${() => void this._openCamera(camera)}>${this.t("recordings")}</button>
          </div>
        </section>`,
      )}
    </div>`;
  }

  private _renderEnlarged(camera: Camera): TemplateResult {
    return html`<div class="overlay" role="dialog" aria-modal="true" aria-label=${camera.name} @click=${() => (this._enlarged = null)}>
      <div class="big" @click=${(ev: Event) => ev.stopPropagation()}>
        <div class="tile-bar">
          <span class="name">${camera.name}</span>${this._badges(camera)}
          <button class="open" @click=${() => void this._openCamera(camera)}>${this.t("recordings")}</button>
          <button class="close" aria-label=${this.t("close")} @click=${() => (this._enlarged = null)}>×</button>
        </div>
        ${this._liveCard(camera, "big")}
      </div>
    </div>`;
  }

  private _renderCamera(): TemplateResult {
    const camera = this._camera!;
    const tl = this._timeline;
    const today = localDate(Date.now() / 1000, this._zone);
    const first = tl?.first ? localDate(tl.first, this._zone) : today;
    return html`<div class="camera">
      <div class="row">
        <button class="link" @click=${() => this._closeCamera()}>← ${this.t("back")}</button>
        <h2>${camera.name}</h2>
        ${this._badges(camera)}
      </div>
      <div class="row controls">
        <button aria-label=${this.t("previous_day")} ?disabled=${this._date <= first} @click=${() => void this._loadDay(addDays(this._date, -1))}>‹</button>
        <label>${this.t("date")}
          <input type="date" .value=${this._date} min=${first} max=${today}
            @change=${(ev: Event) => {
              const value = (ev.target as HTMLInputElement).value;
              if (value) void this._loadDay(value);
            }} />
        </label>
        <button aria-label=${this.t("next_day")} ?disabled=${this._date >= today} @click=${() => void this._loadDay(addDays(this._date, 1))}>›</button>
        <span class="spacer"></span>
        <button aria-label=${this.t("earlier")} @click=${() => this._pan(-0.5)}>«</button>
        <button aria-label=${this.t("zoom_out")} @click=${() => this._zoom(2)}>−</button>
        <button aria-label=${this.t("zoom_in")} @click=${() => this._zoom(0.5)}>+</button>
        <button aria-label=${this.t("later")} @click=${() => this._pan(0.5)}>»</button>
      </div>
      ${tl && this._view ? this._renderTimeline(tl, this._view) : nothing}
      <div class="player">
        <video
          muted
          playsinline
          controls
          aria-label=${camera.name}
          @timeupdate=${() => this._onTimeUpdate()}
          ?hidden=${!this._playback}
        ></video>
        <div class="row">
          <span class="now" aria-live="polite">
            ${this._playing !== null
              ? html`${this.t("now_playing")}: <time>${localDate(this._playing, this._zone)} ${formatClock(this._playing, this._zone, true)}</time>`
              : this.t("nothing_playing")}
          </span>
          <span class="spacer"></span>
          <button class="prev-event" @click=${() => this._jumpEvent(-1)}>‹ ${this.t("previous_event")}</button>
          <button class="next-event" @click=${() => this._jumpEvent(1)}>${this.t("next_event")} ›</button>
          <label>${this.t("speed")}
            <select @change=${(ev: Event) => this._setSpeed(Number((ev.target as HTMLSelectElement).value))}>
              ${SPEEDS.map((s) => html`<option value=${s} ?selected=${s === this._speed}>${s}×</option>`)}
            </select>
          </label>
        </div>
      </div>
      ${this._renderSelection(camera)}
    </div>`;
  }

  private _renderTimeline(tl: TimelineData, view: View): TemplateResult {
    const width = TIMELINE_WIDTH;
    const px = width / Math.max(this._barWidth, 1); // layout units per CSS pixel
    const pct = (x: number): string => `${(x / width) * 100}%`;
    const spans = layoutRanges(tl.spans, view, width, 2 * px);
    const gaps = layoutRanges(tl.gaps, view, width, 2 * px);
    const live = layoutRanges(tl.recording ? [tl.recording] : [], view, width, 2 * px);
    const events: EventBox[] = layoutEvents(tl.events, view, width, tl.now, 6 * px);
    const marks = ticks(view, this._zone, width, 56 * px);
    const selection = this._selection ? layoutRanges([this._selection], view, width, 1) : [];
    const at = (time: number | null) =>
      time !== null && time >= view.start && time <= view.end
        ? pct(((time - view.start) / (view.end - view.start)) * width)
        : null;
    const playing = at(this._playing);
    const cursor = at(this._cursor);
    return html`<div
      class="timeline"
      tabindex="0"
      role="slider"
      aria-label=${this.t("timeline", { camera: this._camera?.name ?? "", date: this._date })}
      aria-valuemin=${tl.start}
      aria-valuemax=${tl.end}
      aria-valuenow=${this._cursor ?? this._playing ?? tl.start}
      aria-valuetext=${formatClock(this._cursor ?? this._playing ?? tl.start, this._zone)}
      @pointerdown=${this._onPointerDown}
      @pointermove=${this._onPointerMove}
      @pointerup=${this._onPointerUp}
      @wheel=${this._onWheel}
      @keydown=${this._onTimelineKey}
    >
      <div class="lane coverage">
        ${spans.map((b) => html`<div class="span" style="left:${pct(b.x)};width:${pct(b.width)}"></div>`)}
        ${gaps.map((b) => html`<div class="gap" title=${this.t("gap")} style="left:${pct(b.x)};width:${pct(b.width)}"></div>`)}
        ${live.map((b) => html`<div class="live" title=${this.t("recording")} style="left:${pct(b.x)};width:${pct(b.width)}"></div>`)}
      </div>
      <div class="lane events">
        ${events.map(
          (e) => html`<div
            class="event ${e.event.kind}"
            title="${e.event.label ?? e.event.kind} ${formatClock(e.event.start, this._zone)}"
            style="left:${pct(e.x)};width:${pct(e.width)};top:${e.lane * 14}px"
          >${e.event.label ?? e.event.kind}</div>`,
        )}
      </div>
      ${selection.map((b) => html`<div class="selection" style="left:${pct(b.x)};width:${pct(b.width)}"></div>`)}
      ${playing ? html`<div class="playhead" style="left:${playing}"></div>` : nothing}
      ${cursor ? html`<div class="cursor" style="left:${cursor}"></div>` : nothing}
      <div class="ticks">
        ${marks.map(
          (m) => html`<span class=${m.x < 24 * px ? "edge" : ""} style="left:${pct(m.x)}">${m.label}</span>`,
        )}
      </div>
    </div>
    ${tl.spans.length ? nothing : html`<p class="empty">${this.t("no_footage_day")}</p>`}`;
  }

  private _renderSelection(camera: Camera): TemplateResult {
    const sel = this._selection;
    const jobs = this._jobs.filter((job) => job.camera === camera.id).slice(0, 3);
    return html`<div class="selection-panel">
      <div class="row">
        <button @click=${() => this._mark(0)}>${this.t("mark_in")}</button>
        <button @click=${() => this._mark(1)}>${this.t("mark_out")}</button>
        ${sel
          ? html`<span class="sel-text">${this.t("selection", {
                start: formatClock(sel[0], this._zone),
                end: formatClock(sel[1], this._zone),
                duration: formatDuration(sel[1] - sel[0]),
              })}</span>
              <button class="link" @click=${() => (this._selection = null)}>${this.t("clear_selection")}</button>`
          : html`<span class="hint">${this.t("select_hint")}</span>`}
      </div>
      ${sel
        ? html`<div class="row">
            <button class="primary export" @click=${() => void this._export()}>${this.t("export")}</button>
            ${this._admin
              ? html`<button class="protect" @click=${() => void this._admin_action("protect")}>${this.t("protect")}</button>
                  <button class="unprotect" @click=${() => void this._admin_action("unprotect")}>${this.t("unprotect")}</button>
                  <button class="danger delete" @click=${() => void this._admin_action("delete")}>${this.t("delete")}</button>`
              : nothing}
          </div>`
        : nothing}
      ${jobs.map((job) => this._renderJob(job))}
    </div>`;
  }

  private _renderJob(job: ExportJob): TemplateResult {
    if (job.status === "running") {
      return html`<div class="job running" role="status">
        <progress aria-label=${this.t("exporting", { elapsed: "" })}></progress>
        ${this.t("exporting", { elapsed: formatDuration(Date.now() / 1000 - job.started) })}
      </div>`;
    }
    if (job.status === "failed") {
      return html`<div class="job failed" role="status">${this.t("export_failed", { error: job.error ?? "" })}</div>`;
    }
    const item = this._exports.find((e) => e.id === job.export_id);
    return html`<div class="job done" role="status">
      ${this.t("export_done")}
      ${item ? html`<a class="download" href=${item.url} download="${item.name}.mp4">${this.t("download")} (${formatBytes(item.bytes)})</a>` : nothing}
    </div>`;
  }

  private _renderExports(): TemplateResult {
    const names = new Map(this._cameras.map((c) => [c.id, c.name]));
    return html`<div class="card">
      ${this._jobs.filter((j) => j.status === "running").map((job) => this._renderJob(job))}
      ${this._exports.length
        ? html`<ul class="exports">
            ${this._exports.map(
              (item) => html`<li>
                <span class="name">${item.name}</span>
                <span>${names.get(item.camera) ?? item.camera} · ${localDate(item.start, this._zone)} ${formatClock(item.start, this._zone)} · ${formatDuration(item.duration ?? item.end - item.start)} · ${formatBytes(item.bytes)}</span>
                <a class="download" href=${item.url} download="${item.name}.mp4">${this.t("download")}</a>
                ${this._admin
                  ? html`<button class="danger" aria-label="${this.t("delete_export")} ${item.name}" @click=${() => void this._deleteExport(item)}>${this.t("delete_export")}</button>`
                  : nothing}
              </li>`,
            )}
          </ul>`
        : html`<p class="empty">${this.t("no_exports")}</p>`}
    </div>`;
  }

  private _renderStorage(): TemplateResult {
    const s = this._storage;
    if (!s) return html`<p class="empty">…</p>`;
    const used = s.disk_total ? ((s.disk_used ?? 0) / s.disk_total) * 100 : 0;
    const footage = s.disk_total ? (s.footage_bytes / s.disk_total) * 100 : 0;
    return html`<div class="card storage">
      <h2>${this.t("disk")}</h2>
      <div class="meter" role="img" aria-label=${this.t("disk_usage", { used: formatBytes(s.disk_used), total: formatBytes(s.disk_total), free: formatBytes(s.disk_free) })}>
        <div class="used" style="width:${used}%"></div>
        <div class="footage" style="width:${footage}%"></div>
      </div>
      <p>${this.t("disk_usage", { used: formatBytes(s.disk_used), total: formatBytes(s.disk_total), free: formatBytes(s.disk_free) })} · ${this.t("footage")}: ${formatBytes(s.footage_bytes)}</p>
      <table>
        <thead><tr><th>${this.t("camera")}</th><th>${this.t("size")}</th><th>${this.t("oldest")}</th><th>${this.t("bitrate")}</th><th>${this.t("days_fit")}</th></tr></thead>
        <tbody>
          ${s.cameras.map(
            (c) => html`<tr>
              <td>${c.name}</td>
              <td>${formatBytes(c.bytes)}</td>
              <td>${c.oldest ? localDate(c.oldest, this._zone) : "–"}</td>
              <td>${c.bitrate_kbps !== null ? `${Math.round(c.bitrate_kbps)} kbit/s` : "–"}</td>
              <td>${c.days_that_fit !== null ? c.days_that_fit.toFixed(1) : "–"}</td>
            </tr>`,
          )}
        </tbody>
      </table>
    </div>`;
  }

  static styles = css`
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
    h2 { font-size: 18px; font-weight: 500; margin: 0; }
    nav { display: flex; gap: 4px; }
    .tab { background: transparent; color: inherit; border: none; border-bottom: 2px solid transparent; border-radius: 0; }
    .tab[aria-selected="true"] { border-bottom-color: currentColor; }
    .settings { color: inherit; margin-left: auto; }
    main { padding: 12px; }
    button, select, input {
      font: inherit;
      color: var(--primary-text-color, #212121);
      background: var(--card-background-color, #fff);
      border: 1px solid var(--divider-color, #ccc);
      border-radius: 6px;
      padding: 6px 10px;
      min-height: 36px;
      cursor: pointer;
    }
    .toolbar button { color: inherit; }
    button:focus-visible, .timeline:focus-visible, a:focus-visible {
      outline: 2px solid var(--primary-color, #03a9f4);
      outline-offset: 2px;
    }
    button:disabled { opacity: 0.5; cursor: default; }
    button.primary { background: var(--primary-color, #03a9f4); color: var(--text-primary-color, #fff); border: none; }
    button.danger { color: var(--error-color, #db4437); border-color: var(--error-color, #db4437); }
    button.link { border: none; background: transparent; color: var(--primary-color, #03a9f4); padding: 4px; }
    .message { margin: 8px 12px 0; padding: 8px 12px; border-radius: 6px; background: var(--secondary-background-color, #eee); display: flex; justify-content: space-between; align-items: center; }
    .message.error { color: var(--error-color, #db4437); }
    .grid { display: grid; grid-template-columns: repeat(auto-fill, minmax(320px, 1fr)); gap: 12px; }
    .tile, .card, .camera, .big {
      background: var(--card-background-color, #fff);
      border-radius: var(--ha-card-border-radius, 12px);
      border: 1px solid var(--divider-color, #e0e0e0);
      overflow: hidden;
    }
    .view { display: block; width: 100%; padding: 0; border: none; border-radius: 0; background: #000; aspect-ratio: 16 / 9; overflow: hidden; }
    .view > * { pointer-events: none; }
    .still { width: 100%; height: 100%; object-fit: contain; display: block; }
    .placeholder { background: #111; }
    .tile-bar, .row { display: flex; align-items: center; gap: 8px; padding: 8px; flex-wrap: wrap; }
    .name { font-weight: 500; }
    .tile-bar .open { margin-left: auto; }
    .badge { font-size: 12px; padding: 2px 8px; border-radius: 10px; background: var(--secondary-background-color, #eee); }
    .badge.ok { color: var(--success-color, #43a047); }
    .badge.bad { color: var(--error-color, #db4437); }
    .badge.rec { color: var(--error-color, #db4437); }
    .overlay { position: fixed; inset: 0; background: rgba(0, 0, 0, 0.75); display: flex; align-items: center; justify-content: center; z-index: 10; padding: 12px; }
    .big { width: min(1200px, 100%); }
    .close { margin-left: 8px; }
    .spacer { flex: 1; }
    .timeline {
      position: relative;
      height: 96px;
      margin: 8px;
      background: var(--secondary-background-color, #f0f0f0);
      border-radius: 6px;
      touch-action: none;
      user-select: none;
      cursor: crosshair;
      overflow: hidden;
    }
    .lane { position: absolute; left: 0; right: 0; }
    .coverage { top: 8px; height: 28px; }
    .span { position: absolute; top: 0; bottom: 0; background: var(--primary-color, #03a9f4); opacity: 0.8; }
    .live { position: absolute; top: 0; bottom: 0; background: var(--primary-color, #03a9f4); opacity: 0.35; }
    .gap {
      position: absolute; top: 0; bottom: 0;
      background: repeating-linear-gradient(45deg, var(--error-color, #db4437) 0 3px, transparent 3px 6px);
      opacity: 0.6;
    }
    .events { top: 40px; height: 30px; }
    .event {
      position: absolute; height: 12px; font-size: 10px; line-height: 12px; white-space: nowrap; overflow: hidden;
      background: var(--warning-color, #ffa600); color: #000; border-radius: 3px; padding: 0 2px; box-sizing: border-box;
    }
    .event.manual { background: var(--accent-color, #ff9800); }
    .selection { position: absolute; top: 0; bottom: 0; background: rgba(255, 235, 59, 0.35); border: 1px solid #fbc02d; box-sizing: border-box; }
    .playhead, .cursor { position: absolute; top: 0; bottom: 0; width: 2px; background: var(--primary-text-color, #000); }
    .cursor { background: var(--accent-color, #ff9800); }
    .ticks { position: absolute; bottom: 2px; left: 0; right: 0; height: 16px; font-size: 11px; color: var(--secondary-text-color, #666); }
    .ticks span { position: absolute; transform: translateX(-50%); white-space: nowrap; }
    .ticks span.edge { transform: none; }
    .player video { width: 100%; max-height: 60vh; background: #000; display: block; }
    .now time { font-variant-numeric: tabular-nums; font-weight: 500; }
    .selection-panel { border-top: 1px solid var(--divider-color, #e0e0e0); }
    .hint { color: var(--secondary-text-color, #666); }
    .job { padding: 8px; display: flex; gap: 8px; align-items: center; }
    .job.failed { color: var(--error-color, #db4437); }
    .download { color: var(--primary-color, #03a9f4); }
    .exports { list-style: none; margin: 0; padding: 0; }
    .exports li { display: flex; flex-wrap: wrap; gap: 8px; align-items: center; padding: 10px; border-bottom: 1px solid var(--divider-color, #e0e0e0); }
    .card { padding: 8px; }
    .meter { position: relative; height: 16px; border-radius: 8px; background: var(--secondary-background-color, #eee); overflow: hidden; margin: 8px 0; }
    .meter .used, .meter .footage { position: absolute; top: 0; bottom: 0; left: 0; }
    .meter .used { background: var(--disabled-text-color, #bbb); }
    .meter .footage { background: var(--primary-color, #03a9f4); }
    table { width: 100%; border-collapse: collapse; }
    th, td { text-align: left; padding: 6px; border-bottom: 1px solid var(--divider-color, #e0e0e0); }
    .empty { color: var(--secondary-text-color, #666); padding: 12px; }
    [hidden] { display: none !important; }
    @media (max-width: 600px) {
      main { padding: 6px; }
      .grid { grid-template-columns: 1fr; }
      .timeline { margin: 4px; height: 88px; }
      th:nth-child(4), td:nth-child(4) { display: none; }
    }
  `;
}

if (!customElements.get("cctv-panel")) customElements.define("cctv-panel", CctvPanel);

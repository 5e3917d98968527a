/**
 * A camera's recordings: the day picker, zoom and pan, the timeline bar, the player (hls.js, or
 * native HLS) with speed and previous/next event, the selection with export and the
 * administrators' protect, unprotect and delete, and their delete of the event on screen.
 * What it offers follows the user's rights on the camera (rights.ts): without `recordings`
 * it says so and shows no timeline; without `export` there is no export button.
 *
 * The shell sets `camera` when a camera is opened (the view then loads today), passes a fresh
 * copy when the camera list is loaded again (rights may change; the view keeps its day and
 * playback) and clears it when the view is closed; the view keeps its day, zoom and speed while
 * another tab is shown, and stops playback when it leaves the page.
 */
import { css, html, nothing, type PropertyValues, type TemplateResult } from "lit";
import Hls from "hls.js";
import { CctvElement } from "../common/cctv-element";
import { fireEvent, type CctvEvent } from "../common/fire-event";
import type { Camera } from "../data/cameras";
import type { ExportFormat, ExportItem, ExportJob } from "../data/exports";
import { startExport } from "../data/exports";
import { type FootageAction, deleteEvent, deleteFootage, protectFootage, unprotectFootage } from "../data/footage";
import { type Playback, fetchPlayback } from "../data/playback";
import { type TimelineEvent, fetchTimeline } from "../data/timeline";
import { type CameraActions, cameraActions } from "../rights";
import {
  type Range,
  type TimelineData,
  type View,
  addDays,
  adjacentEvent,
  formatClock,
  formatDuration,
  localDate,
  mediaToWall,
  panView,
  playableFrom,
  zoomView,
} from "../timeline";
import { sharedStyles } from "../styles";
import { cameraBadges } from "../components/camera-badges";
import "../components/cctv-export-job";
import "../components/cctv-timeline-bar";
import {
  currentEvent,
  dateLimits,
  dayView,
  followPlayhead,
  markSelection,
  continueFrom,
  playbackRange,
  selectableView,
} from "./camera-state";

const SPEEDS = [0.5, 1, 2, 4, 8, 16];

const FOOTAGE_ACTIONS = {
  protect: protectFootage,
  unprotect: unprotectFootage,
  delete: deleteFootage,
} as const;

export class CctvCameraView extends CctvElement {
  static override properties = {
    camera: { attribute: false },
    zone: {},
    admin: { type: Boolean },
    exports: { attribute: false },
    jobs: { attribute: false },
    _date: { state: true },
    _timeline: { state: true },
    _view: { state: true },
    _selection: { state: true },
    _playing: { state: true },
    _playback: { state: true },
    _speed: { state: true },
    _cursor: { state: true },
    _format: { state: true },
  };

  camera: Camera | null = null;
  zone = "UTC";
  admin = false;
  exports: ExportItem[] = [];
  jobs: ExportJob[] = [];
  private _date = "";
  private _timeline: TimelineData | null = null;
  private _view: View | null = null;
  private _selection: Range | null = null;
  private _playing: number | null = null;
  private _playback: Playback | null = null;
  private _speed = 1;
  private _cursor: number | null = null;
  private _format: ExportFormat = "recorded";
  private _hls: Hls | null = null;
  private _endedAt: number | null = null; // the playlist end playback went on from

  override disconnectedCallback(): void {
    super.disconnectedCallback();
    this._stop();
  }

  protected override willUpdate(changed: PropertyValues<this>): void {
    if (!changed.has("camera")) return;
    // A fresh copy of the same camera (the list was loaded again): keep the day and playback.
    if (changed.get("camera")?.id === this.camera?.id) return;
    this._stop();
    this._timeline = null;
    if (this.camera?.rights.includes("recordings")) {
      // Opened: today, no selection.
      this._selection = null;
      void this._loadDay(localDate(Date.now() / 1000, this.zone));
    }
  }

  private async _loadDay(date: string): Promise<void> {
    if (!this.camera) return;
    this._date = date;
    try {
      const timeline = await fetchTimeline(this.connection, this.camera.id, { date });
      this._timeline = timeline;
      this._view = dayView(timeline);
    } catch (err) {
      this.fail(err);
    }
  }

  private _zoom(factor: number, center?: number): void {
    if (!this._view || !this._timeline) return;
    this._view = zoomView(this._view, dayView(this._timeline), factor, center ?? this._playing ?? undefined);
  }

  private _pan(fraction: number): void {
    if (!this._view || !this._timeline) return;
    this._view = panView(this._view, dayView(this._timeline), (this._view.end - this._view.start) * fraction);
  }

  private _onTimelineChange(ev: CctvEvent<"cctv-timeline-change">): void {
    const change = ev.detail;
    if (change.view !== undefined) this._view = change.view;
    if (change.cursor !== undefined) this._cursor = change.cursor;
    if (change.selection !== undefined) this._selection = change.selection;
  }

  private get _bar(): HTMLElementTagNameMap["cctv-timeline-bar"] | null {
    return this.renderRoot.querySelector("cctv-timeline-bar");
  }

  // -- playback -----------------------------------------------------------------------

  private get _video(): HTMLVideoElement | null {
    return this.renderRoot.querySelector("video");
  }

  private async _play(moment: number): Promise<void> {
    if (!this.camera || !this._timeline) return;
    const from = playableFrom(this._timeline.spans, moment);
    if (from === null) {
      this.notify({ text: this.t("gap"), error: false });
      return;
    }
    try {
      const playback = await fetchPlayback(this.connection, {
        camera: this.camera.id,
        ...playbackRange(this._timeline, from),
      });
      this.notify(null);
      this._playback = playback;
      this._playing = from;
      this._cursor = null;
      await this.updateComplete;
      this._attach(playback, from);
    } catch (err) {
      this.fail(err);
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
        if (data.fatal) this.notify({ text: this.t("error", { message: data.details }), error: true });
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
    const playing = date
      ? date.getTime() / 1000
      : mediaToWall(this._timeline.spans, this._playback.first, video.currentTime);
    this._playing = playing;
    if (this._view && !this._bar?.dragging) {
      this._view = followPlayhead(this._view, dayView(this._timeline), playing);
    }
  }

  /** A playback asks for an hour at most (playbackRange): at its end, play on from there. */
  private _onEnded(): void {
    const playback = this._playback;
    if (!playback || !this._timeline || playback.last === this._endedAt) return;
    this._endedAt = playback.last; // the same end twice (no newer footage): stop there
    const next = continueFrom(this._timeline, playback.last);
    if (next !== null) void this._play(next);
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
    this._selection = markSelection(this._selection, at, which, selectableView(this._timeline, Date.now() / 1000));
  }

  // -- export and admin actions -------------------------------------------------------

  private async _export(): Promise<void> {
    if (!this.camera || !this._selection) return;
    try {
      await startExport(
        this.connection,
        { camera: this.camera.id, start: this._selection[0], end: this._selection[1] },
        undefined,
        this._format,
      );
      fireEvent(this, "cctv-exports-changed", undefined);
    } catch (err) {
      this.fail(err);
    }
  }

  private async _deleteEvent(event: TimelineEvent): Promise<void> {
    if (!this.camera) return;
    const label = event.label ?? event.kind;
    const question = this.t("confirm_delete_event", {
      label,
      camera: this.camera.name,
      start: formatClock(event.start, this.zone),
    });
    if (!window.confirm(question)) return;
    try {
      await deleteEvent(this.connection, event.id);
      this.notify({ text: this.t("event_deleted"), error: false });
      await this._loadDay(this._date);
    } catch (err) {
      this.fail(err);
    }
  }

  private async _footageAction(kind: FootageAction): Promise<void> {
    if (!this.camera || !this._selection) return;
    const [start, end] = this._selection;
    if (
      kind === "delete" &&
      !window.confirm(
        this.t("confirm_delete", {
          camera: this.camera.name,
          start: formatClock(start, this.zone),
          end: formatClock(end, this.zone),
        }),
      )
    ) {
      return;
    }
    try {
      const result = await FOOTAGE_ACTIONS[kind](this.connection, { camera: this.camera.id, start, end });
      this.notify({ text: this.t(`done_${kind}`, { count: result.segments }), error: false });
      if (kind === "delete") {
        this._stop();
        await this._loadDay(this._date);
      }
    } catch (err) {
      this.fail(err);
    }
  }

  // -- rendering ----------------------------------------------------------------------

  protected override render(): TemplateResult | typeof nothing {
    const camera = this.camera;
    if (!camera) return nothing;
    const actions = cameraActions(camera, this.admin);
    const title = html`<div class="row">
      <button class="link" @click=${() => fireEvent(this, "cctv-close-camera", undefined)}>← ${this.t("back")}</button>
      <h2>${camera.name}</h2>
      ${cameraBadges(camera, (key) => this.t(key))}
    </div>`;
    if (!actions.recordings) {
      return html`<div class="camera">${title}<p class="empty no-recordings">${this.t("no_recordings_right")}</p></div>`;
    }
    const tl = this._timeline;
    const { first, today } = dateLimits(tl, this.zone, Date.now() / 1000);
    const event = actions.admin && tl ? currentEvent(tl.events, this._playing ?? this._cursor, tl.now) : null;
    return html`<div class="camera">
      ${title}
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
      ${tl && this._view
        ? html`<cctv-timeline-bar
            .hass=${this.hass}
            .timeline=${tl}
            .view=${this._view}
            .zone=${this.zone}
            .label=${this.t("timeline", { camera: camera.name, date: this._date })}
            .selection=${this._selection}
            .playing=${this._playing}
            .cursor=${this._cursor}
            .selectable=${actions.select}
            @cctv-timeline-change=${this._onTimelineChange}
            @cctv-timeline-play=${(ev: CctvEvent<"cctv-timeline-play">) => void this._play(ev.detail.moment)}
          ></cctv-timeline-bar>`
        : nothing}
      <div class="player">
        <video
          muted
          playsinline
          controls
          aria-label=${camera.name}
          @timeupdate=${() => this._onTimeUpdate()}
          @ended=${() => this._onEnded()}
          ?hidden=${!this._playback}
        ></video>
        <div class="row">
          <span class="now" aria-live="polite">
            ${this._playing !== null
              ? html`${this.t("now_playing")}: <time>${localDate(this._playing, this.zone)} ${formatClock(this._playing, this.zone, true)}</time>`
              : this.t("nothing_playing")}
          </span>
          <span class="spacer"></span>
          <button class="prev-event" @click=${() => this._jumpEvent(-1)}>‹ ${this.t("previous_event")}</button>
          <button class="next-event" @click=${() => this._jumpEvent(1)}>${this.t("next_event")} ›</button>
          ${event
            ? html`<button class="danger delete-event" @click=${() => void this._deleteEvent(event)}>
                ${this.t("delete_event", { label: event.label ?? event.kind })}
              </button>`
            : nothing}
          <label>${this.t("speed")}
            <select @change=${(ev: Event) => this._setSpeed(Number((ev.target as HTMLSelectElement).value))}>
              ${SPEEDS.map((s) => html`<option value=${s} ?selected=${s === this._speed}>${s}×</option>`)}
            </select>
          </label>
        </div>
      </div>
      ${this._renderSelection(camera, actions)}
    </div>`;
  }

  /** The selection and what can be done with it (nothing to select without export or admin). */
  private _renderSelection(camera: Camera, actions: CameraActions): TemplateResult | typeof nothing {
    const sel = this._selection;
    const jobs = this.jobs.filter((job) => job.camera === camera.id).slice(0, 3);
    if (!actions.select) {
      return jobs.length
        ? html`<div class="selection-panel">${jobs.map((job) => html`<cctv-export-job .hass=${this.hass} .job=${job} .exports=${this.exports}></cctv-export-job>`)}</div>`
        : nothing;
    }
    return html`<div class="selection-panel">
      <div class="row">
        <button @click=${() => this._mark(0)}>${this.t("mark_in")}</button>
        <button @click=${() => this._mark(1)}>${this.t("mark_out")}</button>
        ${sel
          ? html`<span class="sel-text">${this.t("selection", {
                start: formatClock(sel[0], this.zone),
                end: formatClock(sel[1], this.zone),
                duration: formatDuration(sel[1] - sel[0]),
              })}</span>
              <button class="link" @click=${() => (this._selection = null)}>${this.t("clear_selection")}</button>`
          : html`<span class="hint">${this.t("select_hint")}</span>`}
      </div>
      ${sel
        ? html`<div class="row">
            ${actions.export
              ? html`<select
                    class="export-format"
                    aria-label=${this.t("export_format")}
                    @change=${(ev: Event) => (this._format = (ev.target as HTMLSelectElement).value as ExportFormat)}
                  >
                    <option value="recorded" ?selected=${this._format === "recorded"}>${this.t("export_recorded")}</option>
                    <option value="h264" ?selected=${this._format === "h264"}>${this.t("export_h264")}</option>
                  </select>
                  <button class="primary export" @click=${() => void this._export()}>${this.t("export")}</button>`
              : nothing}
            ${actions.admin
              ? html`<button class="protect" @click=${() => void this._footageAction("protect")}>${this.t("protect")}</button>
                  <button class="unprotect" @click=${() => void this._footageAction("unprotect")}>${this.t("unprotect")}</button>
                  <button class="danger delete" @click=${() => void this._footageAction("delete")}>${this.t("delete")}</button>`
              : nothing}
          </div>`
        : nothing}
      ${jobs.map((job) => html`<cctv-export-job .hass=${this.hass} .job=${job} .exports=${this.exports}></cctv-export-job>`)}
    </div>`;
  }

  static override styles = [
    sharedStyles,
    css`
      .player video { width: 100%; max-height: 60vh; background: #000; display: block; }
      .now time { font-variant-numeric: tabular-nums; font-weight: 500; }
      .selection-panel { border-top: 1px solid var(--divider-color, #e0e0e0); }
    `,
  ];
}

declare global {
  interface HTMLElementTagNameMap {
    "cctv-camera-view": CctvCameraView;
  }
}

if (!customElements.get("cctv-camera-view")) customElements.define("cctv-camera-view", CctvCameraView);

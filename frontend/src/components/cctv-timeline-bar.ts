/**
 * The timeline bar of a camera's day: coverage, gaps, the segment being recorded, what the user
 * may not see (outside their time windows or look-back), labelled recordings, the selection, the
 * playhead and the keyboard cursor, with ticks in Home Assistant's zone. The mouse wheel zooms,
 * a drag selects (when `selectable`: something can be done with a range), a click plays; the
 * arrow keys move the cursor, Enter plays, + and - zoom.
 *
 * A controlled element: the camera view owns the view, selection, cursor and playhead; the bar
 * asks for changes with `cctv-timeline-change` and for playback with `cctv-timeline-play`.
 */
import { css, html, nothing, type TemplateResult } from "lit";
import { CctvElement } from "../common/cctv-element";
import { fireEvent } from "../common/fire-event";
import {
  type EventBox,
  type Range,
  type TimelineData,
  type View,
  formatClock,
  layoutEvents,
  layoutRanges,
  normalizeSelection,
  ticks,
  timeOf,
  zoomView,
} from "../timeline";
import { sharedStyles } from "../styles";
import { dayView, selectableView, timelineKey } from "../views/camera-state";

const TIMELINE_WIDTH = 1000; // layout units; the bar scales to its element's width

export class CctvTimelineBar extends CctvElement {
  static override properties = {
    timeline: { attribute: false },
    view: { attribute: false },
    zone: {},
    label: {},
    selection: { attribute: false },
    playing: { attribute: false },
    cursor: { attribute: false },
    selectable: { type: Boolean },
  };

  timeline?: TimelineData;
  view?: View;
  zone = "UTC";
  label = "";
  selection: Range | null = null;
  playing: number | null = null;
  cursor: number | null = null;
  selectable = true;
  private _drag: { from: number; moved: boolean } | null = null;
  private _barWidth = TIMELINE_WIDTH; // the timeline's width in CSS pixels
  private _resize?: ResizeObserver;

  /** Whether a drag (a selection) is going on: playback does not move the view meanwhile. */
  get dragging(): boolean {
    return this._drag !== null;
  }

  override connectedCallback(): void {
    super.connectedCallback();
    if (this.hasUpdated) this._observe();
  }

  override disconnectedCallback(): void {
    super.disconnectedCallback();
    this._resize?.disconnect();
    this._resize = undefined;
  }

  protected override updated(): void {
    this._observe();
  }

  /** Ticks and the least widths of short bars are in CSS pixels: follow the bar's real width. */
  private _observe(): void {
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

  private _change(change: { view?: View; cursor?: number; selection?: Range | null }): void {
    fireEvent(this, "cctv-timeline-change", change);
  }

  private _timeAtPointer(ev: PointerEvent | WheelEvent): number {
    const bar = ev.currentTarget as HTMLElement;
    const rect = bar.getBoundingClientRect();
    return timeOf(ev.clientX - rect.left, this.view!, rect.width);
  }

  private _onPointerDown(ev: PointerEvent): void {
    if (!this.view) return;
    (ev.currentTarget as HTMLElement).setPointerCapture?.(ev.pointerId);
    this._drag = { from: this._timeAtPointer(ev), moved: false };
  }

  private _onPointerMove(ev: PointerEvent): void {
    if (!this._drag || !this.view || !this.timeline) return;
    const now = this._timeAtPointer(ev);
    const rect = (ev.currentTarget as HTMLElement).getBoundingClientRect();
    const pixels = (Math.abs(now - this._drag.from) / (this.view.end - this.view.start)) * rect.width;
    if (pixels > 4) this._drag.moved = true;
    if (this._drag.moved && this.selectable) {
      const bounds = selectableView(this.timeline, Date.now() / 1000);
      this._change({ selection: normalizeSelection(this._drag.from, now, bounds) });
    }
  }

  private _onPointerUp(ev: PointerEvent): void {
    if (!this._drag) return;
    const drag = this._drag;
    this._drag = null;
    if (!drag.moved) fireEvent(this, "cctv-timeline-play", { moment: this._timeAtPointer(ev) });
  }

  private _onWheel(ev: WheelEvent): void {
    if (!this.view || !this.timeline) return;
    ev.preventDefault();
    const factor = ev.deltaY > 0 ? 1.25 : 0.8;
    this._change({ view: zoomView(this.view, dayView(this.timeline), factor, this._timeAtPointer(ev)) });
  }

  private _onKey(ev: KeyboardEvent): void {
    if (!this.view || !this.timeline) return;
    const action = timelineKey(ev.key, {
      view: this.view,
      bounds: dayView(this.timeline),
      cursor: this.cursor,
      playing: this.playing,
    });
    if (action?.kind === "move") {
      ev.preventDefault();
      this._change({ cursor: action.cursor, view: action.view });
    } else if (action?.kind === "play") {
      ev.preventDefault();
      fireEvent(this, "cctv-timeline-play", { moment: action.moment });
    } else if (action?.kind === "zoom") {
      this._change({ view: action.view });
    }
  }

  protected override render(): TemplateResult | typeof nothing {
    const tl = this.timeline;
    const view = this.view;
    if (!tl || !view) return nothing;
    const width = TIMELINE_WIDTH;
    const px = width / Math.max(this._barWidth, 1); // layout units per CSS pixel
    const pct = (x: number): string => `${(x / width) * 100}%`;
    const spans = layoutRanges(tl.spans, view, width, 2 * px);
    const gaps = layoutRanges(tl.gaps, view, width, 2 * px);
    const live = layoutRanges(tl.recording ? [tl.recording] : [], view, width, 2 * px);
    const hidden = layoutRanges(tl.hidden ?? [], view, width, 2 * px);
    const cloud = layoutRanges(tl.cloud ?? [], view, width, 2 * px);
    const both = layoutRanges(tl.both ?? [], view, width, 2 * px);
    const events: EventBox[] = layoutEvents(tl.events, view, width, tl.now, 6 * px);
    const marks = ticks(view, this.zone, width, 56 * px);
    const selection = this.selection ? layoutRanges([this.selection], view, width, 1) : [];
    const at = (time: number | null) =>
      time !== null && time >= view.start && time <= view.end
        ? pct(((time - view.start) / (view.end - view.start)) * width)
        : null;
    const playing = at(this.playing);
    const cursor = at(this.cursor);
    return html`<div
      class="timeline"
      tabindex="0"
      role="slider"
      aria-label=${this.label}
      aria-valuemin=${tl.start}
      aria-valuemax=${tl.end}
      aria-valuenow=${this.cursor ?? this.playing ?? tl.start}
      aria-valuetext=${formatClock(this.cursor ?? this.playing ?? tl.start, this.zone)}
      @pointerdown=${this._onPointerDown}
      @pointermove=${this._onPointerMove}
      @pointerup=${this._onPointerUp}
      @wheel=${this._onWheel}
      @keydown=${this._onKey}
    >
      <div class="lane coverage">
        ${spans.map((b) => html`<div class="span" style="left:${pct(b.x)};width:${pct(b.width)}"></div>`)}
        ${cloud.map((b) => html`<div class="cloud" title=${this.t("in_cloud")} style="left:${pct(b.x)};width:${pct(b.width)}"></div>`)}
        ${both.map((b) => html`<div class="both" title=${this.t("in_both")} style="left:${pct(b.x)};width:${pct(b.width)}"></div>`)}
        ${gaps.map((b) => html`<div class="gap" title=${this.t("gap")} style="left:${pct(b.x)};width:${pct(b.width)}"></div>`)}
        ${live.map((b) => html`<div class="live" title=${this.t("recording")} style="left:${pct(b.x)};width:${pct(b.width)}"></div>`)}
        ${hidden.map((b) => html`<div class="hidden-part" title=${this.t("hidden")} style="left:${pct(b.x)};width:${pct(b.width)}"></div>`)}
      </div>
      <div class="lane events">
        ${events.map(
          (e) => html`<div
            class="event ${e.event.kind}"
            title="${e.event.label ?? e.event.kind} ${formatClock(e.event.start, this.zone)}"
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

  static override styles = [
    sharedStyles,
    css`
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
      .cloud {
        position: absolute; top: 0; bottom: 0;
        background: repeating-linear-gradient(135deg, var(--card-background-color, #fff) 0 2px, transparent 2px 6px);
        opacity: 0.6;
      }
      .both { position: absolute; bottom: 0; height: 3px; background: var(--success-color, #43a047); }
      .live { position: absolute; top: 0; bottom: 0; background: var(--primary-color, #03a9f4); opacity: 0.35; }
      .gap {
        position: absolute; top: 0; bottom: 0;
        background: repeating-linear-gradient(45deg, var(--error-color, #db4437) 0 3px, transparent 3px 6px);
        opacity: 0.6;
      }
      .hidden-part {
        position: absolute; top: 0; bottom: 0;
        background: repeating-linear-gradient(-45deg, var(--disabled-text-color, #9e9e9e) 0 2px, transparent 2px 8px);
        opacity: 0.7;
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
      @media (max-width: 600px) {
        .timeline { margin: 4px; height: 88px; }
      }
    `,
  ];
}

declare global {
  interface HTMLElementTagNameMap {
    "cctv-timeline-bar": CctvTimelineBar;
  }
}

if (!customElements.get("cctv-timeline-bar")) customElements.define("cctv-timeline-bar", CctvTimelineBar);

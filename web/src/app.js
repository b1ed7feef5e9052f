// edgeflow dashboard. Every data call goes through the node's documented REST
// API; the session is an HttpOnly cookie set by POST /api/v1/session, so this
// script never holds the token after signing in. Live updates arrive as
// server-sent events from /api/v1/events.
'use strict';

(() => {
  const $ = (sel) => document.querySelector(sel);
  const el = (tag, attrs = {}, ...children) => {
    const e = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs)) {
      if (k === 'class') e.className = v;
      else if (k === 'text') e.textContent = v;
      else if (k.startsWith('on')) e.addEventListener(k.slice(2), v);
      else e.setAttribute(k, v);
    }
    for (const c of children) e.append(c);
    return e;
  };

  // ---- API -----------------------------------------------------------------
  class ApiError extends Error {
    constructor(status, body) {
      super((body && body.error) || `HTTP ${status}`);
      this.status = status;
      this.body = body;
    }
  }
  async function api(path, { method = 'GET', body } = {}) {
    const headers = {};
    if (method !== 'GET') headers['X-Edgeflow-Request'] = '1';  // required for session-authenticated changes
    if (body !== undefined) headers['Content-Type'] = 'application/json';
    const res = await fetch(path, { method, headers, body, credentials: 'same-origin', cache: 'no-store' });
    let data = null;
    const text = await res.text();
    if (text) { try { data = JSON.parse(text); } catch { data = { error: text }; } }
    if (res.status === 401 && path !== '/api/v1/session' && !$('#app').hidden) showLogin('Your session has ended; sign in again.');
    if (!res.ok) throw new ApiError(res.status, data);
    return data;
  }

  // ---- formatting ----------------------------------------------------------
  const fmtNum = (v, digits = 2) => {
    if (v === null || v === undefined || Number.isNaN(v)) return '–';
    const a = Math.abs(v);
    if (a !== 0 && (a >= 1e6 || a < 1e-3)) return v.toExponential(2);
    return Number(v.toFixed(digits)).toLocaleString();
  };
  const fmtCount = (v) => (v === undefined ? '–' : Math.round(v).toLocaleString());
  const fmtTime = (iso) => { const d = new Date(iso); return Number.isNaN(d) ? iso : d.toLocaleString(); };
  const fmtDuration = (s) => {
    if (s < 60) return `${Math.floor(s)} s`;
    if (s < 3600) return `${Math.floor(s / 60)} min`;
    if (s < 86400) return `${Math.floor(s / 3600)} h ${Math.floor((s % 3600) / 60)} min`;
    return `${Math.floor(s / 86400)} d ${Math.floor((s % 86400) / 3600)} h`;
  };
  const seconds = (iso) => Date.parse(iso) / 1000;

  // ---- theme ---------------------------------------------------------------
  const themes = ['system', 'dark', 'light'];
  function applyTheme(t) {
    if (t === 'system') delete document.documentElement.dataset.theme;
    else document.documentElement.dataset.theme = t;
    $('#theme').title = `Theme: ${t}`;
  }
  let theme = localStorage.getItem('edgeflow-theme') || 'system';
  applyTheme(theme);
  $('#theme').addEventListener('click', () => {
    theme = themes[(themes.indexOf(theme) + 1) % themes.length];
    localStorage.setItem('edgeflow-theme', theme);
    applyTheme(theme);
    if (chart) buildChart();
  });

  // ---- sign in / out -------------------------------------------------------
  let events = null;
  function showLogin(message = '') {
    if (events) { events.close(); events = null; }
    $('#app').hidden = true;
    $('#login').hidden = false;
    $('#login-error').textContent = message;
    $('#token').value = '';
    $('#token').focus();
  }
  $('#login-form').addEventListener('submit', async (ev) => {
    ev.preventDefault();
    const button = ev.target.querySelector('button');
    button.disabled = true;
    try {
      await api('/api/v1/session', { method: 'POST', body: JSON.stringify({ token: $('#token').value.trim() }) });
      $('#token').value = '';
      await start();
    } catch (e) {
      $('#login-error').textContent =
        e.status === 401 ? 'That is not this node\'s API token.' :
        e.status === 429 ? 'Too many failed attempts: wait a minute and try again.' :
        `Sign-in failed: ${e.message}`;
      $('#token').select();
    } finally {
      button.disabled = false;
    }
  });
  $('#logout').addEventListener('click', async () => {
    try { await api('/api/v1/session', { method: 'DELETE' }); } catch { /* signed out anyway */ }
    showLogin('Signed out.');
  });

  // ---- pages ---------------------------------------------------------------
  const pages = ['overview', 'sensors', 'alerts', 'rules', 'models', 'cameras'];
  function route() {
    const name = (location.hash.match(/^#\/(\w+)/) || [])[1];
    const page = pages.includes(name) ? name : 'overview';
    for (const p of pages) $(`#page-${p}`).hidden = p !== page;
    for (const a of document.querySelectorAll('nav a')) {
      if (a.dataset.page === page) a.setAttribute('aria-current', 'page');
      else a.removeAttribute('aria-current');
    }
    document.body.dataset.page = page;
    if (page === 'sensors') { if (!chart) buildChart(); else chart.setSize(chartSize()); }
    if (page === 'rules' && !rulesLoaded) loadRules();
    if (page === 'alerts') loadAlerts();
    if (page === 'models') loadModels();
    if (page === 'cameras') loadCameras();
    else stopPreviews();
  }
  window.addEventListener('hashchange', () => { route(); $('#main').focus(); });

  // ---- overview --------------------------------------------------------------
  let lastStatus = null, prevTotals = null, rate = null;
  function tile(label, value, cls = '') {
    return el('div', { class: `tile ${cls}` }, el('div', { class: 'label', text: label }), el('div', { class: 'value', text: value }));
  }
  function renderStatus(s) {
    const fresh = s !== lastStatus;  // drawn again (the alerts changed): the same totals say nothing about the rate
    lastStatus = s;
    $('#node-id').textContent = s.node ? `· ${s.node}` : '';
    const t = s.totals || {};
    const now = performance.now();
    if (fresh) {
      if (prevTotals && now > prevTotals.at) {
        rate = Math.max(0, (t.source_events - prevTotals.events) / ((now - prevTotals.at) / 1000));
      }
      prevTotals = { at: now, events: t.source_events };
    }
    const comps = s.components || {};
    let depth = 0, capacity = 0;
    const uplinks = [];
    for (const [id, c] of Object.entries(comps)) {
      if (c.queue) { depth += c.queue.depth; capacity += c.queue.capacity; }
      if (c.type === 'uplink') uplinks.push([id, c.metrics || {}]);
    }
    const healthy = !(t.lost_events > 0) && !(t.dropped_events > 0);
    const tiles = [
      tile('Node health', healthy ? 'healthy' : 'losing data', healthy ? 'good' : 'bad'),
      tile('Uptime', fmtDuration(s.process_uptime_secs ?? s.uptime_secs ?? 0)),
      tile('Readings / s', rate === null ? '…' : fmtNum(rate, 1)),
      tile('Open alerts', fmtCount(openAlerts)),
      tile('Dead letters', fmtCount(t.dead_letters), t.dead_letters > 0 ? 'bad' : ''),
      tile('Queued events', `${fmtCount(depth)} / ${fmtCount(capacity)}`),
      tile('Dropped / lost', `${fmtCount(t.dropped_events)} / ${fmtCount(t.lost_events)}`, healthy ? '' : 'bad'),
    ];
    if (uplinks.length === 0) tiles.push(tile('Uplink', 'not configured'));
    for (const [id, m] of uplinks) {
      tiles.push(tile(`Uplink ${id}`, m.connected ? 'connected' : 'offline', m.connected ? 'good' : 'bad'));
      tiles.push(tile('Uplink backlog', `${fmtCount(m.outbox_events)} events`));
      tiles.push(tile('Oldest unsent', fmtDuration(m.outbox_oldest_age_secs || 0)));
    }
    $('#tiles').replaceChildren(...tiles);
    const rows = Object.entries(comps).map(([id, c]) => {
      const details = [];
      if (c.created) details.push(`alerts ${c.created.alerts}, dead letters ${c.created.dead_letters}`);
      if (c.written_events !== undefined) details.push(`written ${fmtCount(c.written_events)}, lost ${fmtCount(c.lost_events)}`);
      for (const [k, v] of Object.entries(c.metrics || {})) details.push(`${k.replaceAll('_', ' ')} ${fmtNum(v, 1)}`);
      return el('tr', {},
        el('td', { text: id }), el('td', { text: c.kind }), el('td', { text: c.type }),
        el('td', { class: 'num', text: fmtCount(c.in_events) }), el('td', { class: 'num', text: fmtCount(c.out_events) }),
        el('td', { class: 'num', text: c.queue ? `${fmtCount(c.queue.depth)} / ${fmtCount(c.queue.capacity)}` : '–' }),
        el('td', { class: 'small', text: details.join(' · ') }));
    });
    $('#components tbody').replaceChildren(...rows);
  }

  // ---- sensors -------------------------------------------------------------
  const series = new Map();  // "sensor/metric" -> {sensor, metric, value, ts, quality, spark: [[t, v]]}
  const key = (r) => `${r.sensor}/${r.metric}`;
  let selected = null;

  function drawSpark(canvas, pts) {
    const dpr = window.devicePixelRatio || 1;
    const w = 120, h = 28;
    canvas.width = w * dpr; canvas.height = h * dpr;
    const g = canvas.getContext('2d');
    g.scale(dpr, dpr);
    if (pts.length < 2) return;
    let lo = Infinity, hi = -Infinity;
    for (const [, v] of pts) { lo = Math.min(lo, v); hi = Math.max(hi, v); }
    if (hi === lo) { hi += 1; lo -= 1; }
    const t0 = pts[0][0], t1 = pts[pts.length - 1][0] || t0 + 1;
    g.strokeStyle = getComputedStyle(document.documentElement).getPropertyValue('--chart').trim();
    g.lineWidth = 1.5;
    g.beginPath();
    pts.forEach(([t, v], i) => {
      const x = 2 + ((t - t0) / Math.max(1e-9, t1 - t0)) * (w - 4);
      const y = h - 3 - ((v - lo) / (hi - lo)) * (h - 6);
      if (i === 0) g.moveTo(x, y); else g.lineTo(x, y);
    });
    g.stroke();
  }

  function renderSensors() {
    const rows = [...series.values()].sort((a, b) => key(a).localeCompare(key(b))).map((s) => {
      const k = key(s);
      const canvas = el('canvas', { class: 'spark', 'aria-hidden': 'true' });
      const show = el('button', { type: 'button', class: 'linkish', text: s.sensor, 'aria-label': `Show ${k} in the chart`,
        onclick: () => selectSeries(k) });
      const tr = el('tr', { class: 'selectable', 'data-series': k, 'aria-selected': String(k === selected) },
        el('td', {}, show), el('td', { text: s.metric }), el('td', { class: 'num value', text: fmtNum(s.value) }),
        el('td', {}, canvas), el('td', { text: s.quality }), el('td', { class: 'small', text: fmtTime(s.ts) }));
      tr.addEventListener('click', (ev) => { if (ev.target === tr || ev.target.tagName === 'TD') selectSeries(k); });
      s.canvas = canvas;
      requestAnimationFrame(() => drawSpark(canvas, s.spark));
      return tr;
    });
    $('#sensors tbody').replaceChildren(...rows);
    const sel = $('#series');
    const keys = [...series.keys()].sort();
    if (sel.options.length !== keys.length) {
      sel.replaceChildren(...keys.map((k) => el('option', { value: k, text: k })));
    }
    if (selected) sel.value = selected;
  }

  async function loadSensors() {
    const { sensors } = await api('/api/v1/sensors');
    for (const r of sensors) {
      const k = key(r);
      const s = series.get(k) || { spark: [] };
      Object.assign(s, { sensor: r.sensor, metric: r.metric, value: r.value, ts: r.ts, quality: r.quality });
      series.set(k, s);
    }
    if (!selected && series.size) selected = [...series.keys()].sort()[0];
    renderSensors();
    // Sparklines: the last 15 minutes of each series, in 30 s means.
    await Promise.all([...series.values()].map(async (s) => {
      const to = seconds(s.ts) + 1, from = to - 900;
      try {
        const q = new URLSearchParams({ sensor: s.sensor, metric: s.metric, from: String(from), to: String(to), step: '30' });
        const { points } = await api(`/api/v1/readings?${q}`);
        s.spark = points.map((p) => [seconds(p.ts), p.mean]);
        if (s.canvas) drawSpark(s.canvas, s.spark);
      } catch { /* sparkline stays empty */ }
    }));
  }

  function onReadings(list) {
    let added = false;
    for (const r of list) {
      const k = key(r);
      let s = series.get(k);
      if (!s) { s = { spark: [] }; series.set(k, s); added = true; }
      Object.assign(s, { sensor: r.sensor, metric: r.metric, value: r.value, ts: r.ts, quality: r.quality });
      const t = seconds(r.ts);
      s.spark.push([t, r.value]);
      while (s.spark.length > 2 && s.spark[0][0] < t - 900) s.spark.shift();
      if (k === selected) appendToChart(t, r.value);
    }
    if (!selected && series.size) { selected = [...series.keys()].sort()[0]; added = true; }
    if (added) { renderSensors(); if (!$('#page-sensors').hidden) loadChart(); return; }
    for (const tr of document.querySelectorAll('#sensors tbody tr')) {
      const s = series.get(tr.dataset.series);
      if (!s) continue;
      tr.querySelector('.value').textContent = fmtNum(s.value);
      tr.cells[4].textContent = s.quality;
      tr.cells[5].textContent = fmtTime(s.ts);
      if (s.canvas) drawSpark(s.canvas, s.spark);
    }
  }

  // ---- the history chart (uPlot) -----------------------------------------
  let chart = null, chartData = [[], []], zoomed = false;
  // Live points of the shown series, numbered: those that come while a history
  // request is out are added to its answer (which was computed before them).
  let chartLive = [], liveSeq = 0;
  const chartSize = () => ({ width: Math.max(280, $('#chart').clientWidth || 600), height: window.innerWidth < 640 ? 220 : 300 });
  function buildChart() {
    if (!window.uPlot) return;
    if (chart) chart.destroy();
    const css = getComputedStyle(document.documentElement);
    const fg = css.getPropertyValue('--muted').trim(), line = css.getPropertyValue('--line').trim();
    const axis = { stroke: fg, grid: { stroke: line, width: 1 }, ticks: { stroke: line } };
    chart = new uPlot({
      ...chartSize(),
      cursor: { drag: { x: true, y: false } },
      hooks: { setSelect: [() => { zoomed = true; }] },
      scales: { x: { time: true } },
      axes: [axis, { ...axis, size: 60 }],
      series: [{}, { label: selected || 'value', stroke: css.getPropertyValue('--chart').trim(), width: 1.5,
        points: { show: false }, value: (u, v) => fmtNum(v) }],
    }, chartData, $('#chart'));
    loadChart();
  }
  let chartLoads = 0, chartRequests = 0;
  function markChart() {
    const c = $('#chart');
    c.dataset.loads = String(chartLoads);
    c.dataset.series = selected || '';
    c.dataset.points = String(chartData[0].length);
    c.dataset.lastValue = chartData[1].length ? String(chartData[1][chartData[1].length - 1]) : '';
  }
  async function loadChart() {
    if (!chart || !selected) return;
    const s = series.get(selected);
    if (!s) return;
    const want = selected, load = ++chartRequests, since = liveSeq;
    const range = Number($('#range').value);
    // Anchored at the newest reading: simulated or replayed data may run ahead of the clock.
    const to = Math.max(Date.now() / 1000, seconds(s.ts)) + 1, from = to - range;
    const q = new URLSearchParams({ sensor: s.sensor, metric: s.metric, from: String(from), to: String(to) });
    if (range > 3600) q.set('step', String(Math.ceil(range / 720)));
    let loaded = [[], []];
    try {
      const { points } = await api(`/api/v1/readings?${q}`);
      loaded = [points.map((p) => seconds(p.ts)), points.map((p) => (p.value !== undefined ? p.value : p.mean))];
    } catch (e) {
      if (e.status === 400 && !q.has('step')) {  // too many points: ask for means
        q.set('step', String(Math.ceil(range / 720)));
        const { points } = await api(`/api/v1/readings?${q}`);
        loaded = [points.map((p) => seconds(p.ts)), points.map((p) => p.mean)];
      }
    }
    // Only the newest request for the shown series counts; readings that came
    // live while it was in flight are newer than its answer and are kept.
    if (want !== selected || load !== chartRequests) return;
    const end = loaded[0].length ? loaded[0][loaded[0].length - 1] : -Infinity;
    chartLive = chartLive.filter(([seq]) => seq > since);
    for (const [, t, v] of chartLive) if (t > end && t >= from) { loaded[0].push(t); loaded[1].push(v); }
    chartData = loaded;
    zoomed = false;
    chart.setSeries(1, { label: selected });
    chart.series[1].label = selected;
    chart.setData(chartData, true);
    ++chartLoads;
    markChart();
  }
  function appendToChart(t, v) {
    if (!chart) return;
    chartLive.push([++liveSeq, t, v]);
    if (chartLive.length > 5000) chartLive.shift();
    const xs = chartData[0];
    if (xs.length && t <= xs[xs.length - 1]) return;
    xs.push(t); chartData[1].push(v);
    const from = t - Number($('#range').value);
    while (xs.length > 1 && xs[0] < from) { xs.shift(); chartData[1].shift(); }
    chart.setData(chartData, !zoomed);
    markChart();
  }
  function selectSeries(k) {
    if (k !== selected) { chartData = [[], []]; chartLive = []; }  // another series: nothing of the old one may stay
    selected = k;
    $('#series').value = k;
    for (const tr of document.querySelectorAll('#sensors tbody tr')) tr.setAttribute('aria-selected', String(tr.dataset.series === k));
    if (chart) buildChart();
  }
  $('#series').addEventListener('change', (e) => selectSeries(e.target.value));
  $('#range').addEventListener('change', () => loadChart());
  $('#zoom-reset').addEventListener('click', () => { zoomed = false; if (chart) chart.setData(chartData, true); });
  window.addEventListener('resize', () => { if (chart && !$('#page-sensors').hidden) chart.setSize(chartSize()); });

  // ---- alerts --------------------------------------------------------------
  // The newest ALERTS_SHOWN alerts in the chosen state and acknowledgement
  // come from the node; the text filter works on those. One request at a
  // time: changes that come meanwhile (an alert storm sends one every 250 ms)
  // ask once more when it returns, so an answer is always shown.
  const ALERTS_SHOWN = 500;
  let alerts = [], alertsTotal = 0, alertsPages = 1, openAlerts = undefined, alertsBusy = false, alertsAgain = false;
  function alertFilters() {
    const params = new URLSearchParams({ limit: String(Math.min(100000, ALERTS_SHOWN * alertsPages)) });
    if ($('#alert-state').value) params.set('state', $('#alert-state').value);
    if ($('#alert-ack').value) params.set('acknowledged', $('#alert-ack').value);
    const text = $('#alert-filter').value.trim();
    if (text) params.set('q', text.slice(0, 200));
    return params.toString();
  }
  async function loadAlerts() {
    if (alertsBusy) { alertsAgain = true; return; }
    alertsBusy = true;
    try {
      do {
        alertsAgain = false;
        const asked = alertFilters();
        let answer;
        try {
          answer = await api(`/api/v1/alerts?${asked}`);
        } catch (e) {
          if (e.status === 404) answer = { alerts: [], total: 0, counts: { open: 0 } };  // no store on this node
          else continue;
        }
        if (asked !== alertFilters()) { alertsAgain = true; continue; }  // the filters changed meanwhile
        ({ alerts } = answer);
        alertsTotal = answer.total ?? alerts.length;
        openAlerts = answer.counts ? answer.counts.open : alerts.filter((a) => a.state === 'open').length;
        const badge = $('#open-count');
        badge.textContent = String(openAlerts);
        badge.hidden = openAlerts === 0;
        badge.setAttribute('aria-label', `${openAlerts} open`);
        renderAlerts();
        if (lastStatus) renderStatus(lastStatus);
      } while (alertsAgain);
    } finally {
      alertsBusy = false;
    }
  }
  function renderAlerts() {
    const state = $('#alert-state').value, ack = $('#alert-ack').value;
    const text = $('#alert-filter').value.trim().toLowerCase();
    const rows = alerts
      .filter((a) => !state || a.state === state)
      .filter((a) => !ack || String(Boolean(a.acknowledged_at)) === ack)
      .filter((a) => !text || `${a.rule} ${a.sensor} ${a.metric}`.toLowerCase().includes(text))  // newest first, as the node sends them
      .map((a) => {
        const ackCell = el('td');
        if (a.acknowledged_at) {
          ackCell.append(el('span', { text: `${fmtTime(a.acknowledged_at)} (${a.acknowledged_by})` }));
        } else {
          ackCell.append(el('button', { type: 'button', class: 'ack', text: 'Acknowledge',
            'aria-label': `Acknowledge ${a.rule} on ${a.sensor}`, onclick: (ev) => acknowledge(a, ev.target) }));
        }
        return el('tr', { 'data-alert': String(a.id) },
          el('td', { class: `sev-${a.severity}`, text: a.severity }), el('td', { text: a.rule }),
          el('td', { text: a.sensor }), el('td', { text: a.metric }), el('td', { class: 'num', text: fmtNum(a.value) }),
          el('td', { class: 'small', text: fmtTime(a.opened_at) }),
          el('td', { class: `state-${a.state}`, text: a.state === 'cleared' ? `cleared ${fmtTime(a.cleared_at)}` : a.state }),
          ackCell);
      });
    $('#alerts tbody').replaceChildren(...rows);
    $('#alerts-empty').hidden = rows.length > 0;
    const more = $('#alerts-more');
    more.hidden = alertsTotal <= alerts.length;
    more.textContent = `Showing the newest ${fmtCount(alerts.length)} of ${fmtCount(alertsTotal)} alerts.`;
    $('#alerts-older').hidden = alertsTotal <= alerts.length;
  }
  async function acknowledge(a, button) {
    button.disabled = true;
    try {
      await api(`/api/v1/alerts/${a.id}/ack`, { method: 'POST', body: '{}' });
    } catch (e) {
      if (e.status !== 409) { button.disabled = false; button.textContent = `Failed: ${e.message}`; return; }
    }
    await loadAlerts();
  }
  for (const id of ['#alert-state', '#alert-ack']) $(id).addEventListener('change', () => { alertsPages = 1; loadAlerts(); });
  // The text filters what is shown at once, and is asked of the node when typing pauses.
  let alertTyping = null;
  $('#alert-filter').addEventListener('input', () => {
    renderAlerts();
    clearTimeout(alertTyping);
    alertTyping = setTimeout(() => { alertsPages = 1; loadAlerts(); }, 300);
  });
  // Older alerts: one more page, kept when the list is asked for again.
  $('#alerts-older').addEventListener('click', () => { alertsPages += 1; loadAlerts(); });

  // ---- rules ---------------------------------------------------------------
  let rulesLoaded = false;
  async function loadRules() {
    const rules = await api('/api/v1/rules');
    $('#rules-text').value = JSON.stringify(rules, null, 2);
    $('#rules-errors').replaceChildren();
    $('#rules-result').textContent = '';
    rulesLoaded = true;
  }
  $('#rules-revert').addEventListener('click', loadRules);
  $('#rules-save').addEventListener('click', async () => {
    const result = $('#rules-result'), list = $('#rules-errors');
    result.className = ''; result.textContent = 'Validating…';
    list.replaceChildren();
    const text = $('#rules-text').value;
    try {
      JSON.parse(text);
    } catch (e) {
      result.className = 'bad'; result.textContent = 'Not valid JSON; nothing was changed.';
      list.replaceChildren(el('li', { text: e.message }));
      return;
    }
    try {
      const applied = await api('/api/v1/rules', { method: 'PUT', body: text });
      $('#rules-text').value = JSON.stringify(applied, null, 2);
      result.className = 'ok'; result.textContent = 'Applied.';
    } catch (e) {
      result.className = 'bad';
      result.textContent = `${e.message}`;
      const errors = (e.body && e.body.errors) || [];
      list.replaceChildren(...errors.map((m) => el('li', { text: m })));
    }
  });

  // ---- cameras ---------------------------------------------------------------
  // The live preview: the camera's MJPEG stream read with fetch, each JPEG
  // shown in the <img> as it arrives. A stream that ends (the camera fell
  // silent for a while, the node reloaded its configuration) is asked for
  // again after a pause, as long as the page is shown; leaving the page
  // aborts it, so the node stops encoding preview frames.
  const previews = new Set();
  const CRLF2 = [13, 10, 13, 10];
  function indexOfBytes(buf, pat) {
    outer: for (let i = 0; i + pat.length <= buf.length; i++) {
      for (let k = 0; k < pat.length; k++) if (buf[i + k] !== pat[k]) continue outer;
      return i;
    }
    return -1;
  }
  const PART_MAX = 16 << 20, HEAD_MAX = 8 << 10;
  function playPreview(img, url) {
    const ctl = new AbortController();
    previews.add(ctl);
    let streams = 0, frames = 0, pause = 2000;
    const shown = [];
    const show = (jpeg) => {
      shown.push(URL.createObjectURL(new Blob([jpeg], { type: 'image/jpeg' })));
      img.src = shown[shown.length - 1];
      while (shown.length > 2) URL.revokeObjectURL(shown.shift());  // the one before stays until this one loads
      img.dataset.frames = String(++frames);
    };
    (async () => {
      while (!ctl.signal.aborted) {
        img.dataset.streams = String(++streams);
        const before = frames;
        try {
          const res = await fetch(url, { credentials: 'same-origin', cache: 'no-store', signal: ctl.signal });
          if (!res.ok) res.body?.cancel();
          // Signed out, or the camera is gone (a reload removed it): nothing to ask again.
          if (res.status === 401 || res.status === 403 || res.status === 404) break;
          if (res.ok && res.body) {
            const reader = res.body.getReader();
            let buf = new Uint8Array(0);
            read: for (;;) {
              const { value, done } = await reader.read();
              if (done) break;
              const more = new Uint8Array(buf.length + value.length);
              more.set(buf);
              more.set(value, buf.length);
              buf = more;
              // Each part: headers, a blank line, Content-Length bytes of JPEG.
              for (;;) {
                const end = indexOfBytes(buf, CRLF2);
                if (end < 0) {
                  if (buf.length > HEAD_MAX) { reader.cancel(); break read; }  // not a stream of parts
                  break;
                }
                const m = /content-length:\s*(\d+)/i.exec(new TextDecoder().decode(buf.subarray(0, end)));
                const start = end + 4, len = m ? Number(m[1]) : 0;
                if (len > PART_MAX) { reader.cancel(); break read; }
                if (buf.length < start + len) break;
                if (len > 0) show(buf.slice(start, start + len));
                buf = buf.subarray(start + len);
              }
            }
          }
        } catch {
          if (ctl.signal.aborted) break;
        }
        // Again after a pause; longer each time nothing came (a silent
        // camera, all stream slots taken: the node's live updates need one).
        pause = frames > before ? 2000 : Math.min(pause * 2, 60000);
        await new Promise((r) => setTimeout(r, pause));
      }
      previews.delete(ctl);
      for (const u of shown) URL.revokeObjectURL(u);
    })();
  }
  function stopPreviews() {
    clearInterval(camerasTimer);
    camerasTimer = null;
    for (const ctl of previews) ctl.abort();
    previews.clear();
    $('#cameras-list').replaceChildren();
  }
  function cameraTiles(c) {
    return el('div', { class: 'tiles' },
      stat('State', c.connected ? 'connected' : (c.error || 'not connected')),
      stat('Frame', c.width ? `${c.width} × ${c.height}` : '–'),
      stat('Analysed', `${fmtNum(c.fps, 1)} fps, ${fmtNum(c.analyse_ms, 1)} ms each`),
      stat('Dropped frames', fmtCount(c.frames_dropped)),
      stat('Events', fmtCount(c.events)), stat('Reconnects', fmtCount(c.reconnects)));
  }
  // While the page is shown: the cameras' figures every 5 s (the previews
  // play on), and the events list when a new event came.
  let camerasTimer = null, newestEvent = null;
  // The cameras and the latest events; null when the page was left while
  // the answers were on their way (or the node did not answer).
  async function fetchCameras() {
    try {
      const { cameras } = await api('/api/v1/cameras');
      const { events } = await api('/api/v1/vision/events?limit=24');
      return document.body.dataset.page === 'cameras' ? { cameras, events } : null;
    } catch { return null; }
  }
  // What changes when the newest event does: a new one, its end, its clip.
  const eventsKey = (events) => (events.length ? `${events[0].id} ${events[0].end} ${events[0].clip}` : null);
  async function refreshCameras() {
    const got = await fetchCameras();
    if (!got) return;
    const cards = [...document.querySelectorAll('#cameras-list .camera')];
    if (cards.map((c) => c.dataset.camera).join('\n') !== got.cameras.map((c) => c.id).join('\n')) {
      drawCameras(got);  // cameras came or went: draw the page anew
      return;
    }
    cards.forEach((card, i) => card.querySelector('.tiles').replaceWith(cameraTiles(got.cameras[i])));
    if (eventsKey(got.events) !== newestEvent) renderVisionEvents(got.events);
  }
  async function loadCameras() {
    const got = await fetchCameras();
    if (got) drawCameras(got);
  }
  function drawCameras({ cameras, events }) {
    for (const ctl of previews) ctl.abort();  // the cards are drawn anew, with their previews
    previews.clear();
    $('#cameras-empty').hidden = cameras.length > 0;
    $('#cameras-list').replaceChildren(...cameras.map((c) => {
      const id = encodeURIComponent(c.id);
      const preview = el('img', { class: 'preview', alt: `Live view of ${c.id} (faces masked)` });
      playPreview(preview, `/api/v1/cameras/${id}/preview.mjpg`);
      return el('div', { class: 'card camera', 'data-camera': c.id }, el('h3', { text: c.id }), preview, cameraTiles(c));
    }));
    renderVisionEvents(events);
    clearInterval(camerasTimer);
    camerasTimer = setInterval(refreshCameras, 5000);
  }
  function renderVisionEvents(events) {
    newestEvent = eventsKey(events);
    $('#vision-events-empty').hidden = events.length > 0;
    $('#vision-events').replaceChildren(...events.map((e) => {
      const id = encodeURIComponent(e.id);
      const start = new Date(e.start / 1000);
      const secs = e.end ? (e.end - e.start) / 1e6 : null;
      const fig = el('figure', { class: 'card event', 'data-event': e.id });
      if (e.snapshot) fig.append(el('img', { src: `/api/v1/vision/events/${id}/snapshot.jpg`, loading: 'lazy',
        alt: `Snapshot of ${e.camera} at ${start.toLocaleString()} (faces masked)` }));
      const caption = el('figcaption', {},
        el('strong', { text: e.camera }), ` ${start.toLocaleString()} · `,
        secs === null ? 'ongoing' : `${fmtNum(secs, 1)} s`,
        ` · people ${fmtCount(e.max_people)} · faces masked ${fmtCount(e.max_faces)}`,
        e.objects && e.objects.length ? ` · ${e.objects.map((o) => o.class).join(', ')}` : '');
      if (e.clip) caption.append(' · ', el('a', { href: `/api/v1/vision/events/${id}/clip.avi`, download: `${e.id}.avi`, text: 'clip' }));
      fig.append(caption);
      return fig;
    }));
  }

  // ---- models --------------------------------------------------------------
  function stat(label, value) {
    return el('div', { class: 'tile' }, el('div', { class: 'label', text: label }), el('div', { class: 'value', text: value }));
  }
  async function modelAction(name, action, button) {
    button.disabled = true;
    try {
      await api(`/api/v1/models/${encodeURIComponent(name)}/${action}`, { method: 'POST', body: '{}' });
    } catch (e) {
      button.textContent = `Failed: ${e.message}`;
      return;
    }
    await loadModels();
  }
  async function loadModels() {
    let models = [];
    try { ({ models } = await api('/api/v1/models')); } catch { return; }
    $('#models-empty').hidden = models.length > 0;
    $('#models-list').replaceChildren(...models.map((m) => {
      const ls = m.live_stats || {};
      const card = el('div', { class: 'card model', 'data-model': m.name },
        el('h3', { text: m.name }),
        el('p', { class: 'muted', text: `versions on the node: ${m.versions.join(', ') || '–'}` }));
      const tiles = el('div', { class: 'tiles' },
        stat('Live', m.live || '–'), stat('Previous', m.previous || '–'), stat('Shadow', m.shadow || '–'),
        stat('Batches', fmtCount(ls.batches)), stat('Errors', fmtCount(ls.errors)),
        stat('Latency mean / max', `${fmtNum(ls.mean_ms, 3)} / ${fmtNum(ls.max_ms, 3)} ms`),
        stat('Over budget', `${fmtCount(ls.over_budget)} (budget ${fmtNum(m.latency_budget_ms)} ms)`),
        stat('Rollbacks', fmtCount(m.rollbacks)));
      card.append(tiles);
      if (m.shadow_comparison) {
        const c = m.shadow_comparison;
        card.append(el('p', { class: 'shadow', text: `Shadow ${m.shadow} against live ${m.live}: ${fmtCount(c.windows)} windows, ` +
          `mean score difference ${fmtNum(c.mean_abs_score_diff, 4)}, alert agreement ${fmtNum(100 * c.alert_agreement, 1)} %, ` +
          `${fmtCount(c.errors)} errors` }));
      }
      if (m.last_rollback) card.append(el('p', { class: 'small', text: `Last rollback: ${m.last_rollback}` }));
      const row = el('div', { class: 'row' });
      if (m.shadow) row.append(el('button', { type: 'button', class: 'primary', text: `Promote ${m.shadow}`,
        onclick: (ev) => modelAction(m.name, 'promote', ev.target) }));
      if (m.previous) row.append(el('button', { type: 'button', text: `Roll back to ${m.previous}`,
        onclick: (ev) => modelAction(m.name, 'rollback', ev.target) }));
      card.append(row);
      return card;
    }));
  }
  const fileText = (f) => f.text();
  async function fileBase64(f) {
    const bytes = new Uint8Array(await f.arrayBuffer());
    let bin = '';
    for (let i = 0; i < bytes.length; i += 0x8000) bin += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
    return btoa(bin);
  }
  $('#deploy-form').addEventListener('submit', async (ev) => {
    ev.preventDefault();
    const result = $('#deploy-result'), list = $('#deploy-errors');
    list.replaceChildren();
    result.textContent = 'Validating…';
    const manifest = await fileText($('#deploy-manifest').files[0]);
    const name = (manifest.match(/^name:\s*"?([A-Za-z0-9._-]+)"?/m) || [])[1];
    if (!name) { result.textContent = 'The manifest has no name.'; return; }
    try {
      await api(`/api/v1/models/${encodeURIComponent(name)}?mode=${$('#deploy-mode').value}`, {
        method: 'PUT', body: JSON.stringify({ manifest, model_base64: await fileBase64($('#deploy-model').files[0]) }),
      });
      result.textContent = `Deployed ${name}.`;
      await loadModels();
    } catch (e) {
      result.textContent = `Refused: nothing changed. ${e.message}`;
      list.replaceChildren(...((e.body && e.body.errors) || []).map((m) => el('li', { text: m })));
    }
  });

  // ---- live updates --------------------------------------------------------
  function connect() {
    if (events) events.close();
    events = new EventSource('/api/v1/events');
    const live = $('#live');
    events.addEventListener('open', () => { live.textContent = 'live'; live.className = 'live on'; });
    events.addEventListener('status', (e) => renderStatus(JSON.parse(e.data)));
    events.addEventListener('readings', (e) => onReadings(JSON.parse(e.data).readings));
    events.addEventListener('alerts', () => loadAlerts());
    events.addEventListener('error', async () => {
      live.textContent = 'reconnecting…'; live.className = 'live off';
      if (events.readyState === EventSource.CLOSED) {
        events = null;
        try { await api('/api/v1/status'); setTimeout(connect, 2000); } catch { /* 401 shows the sign-in */ }
      }
    });
  }

  async function start() {
    const status = await api('/api/v1/status');
    $('#login').hidden = true;
    $('#app').hidden = false;
    renderStatus(status);
    if (!location.hash) location.hash = '#/overview';
    route();
    connect();
    await Promise.all([loadSensors().catch(() => {}), loadAlerts()]);
    if (chart) loadChart(); else if (!$('#page-sensors').hidden) buildChart();
  }

  start().catch((e) => showLogin(e.status === 401 ? '' : `The node did not answer: ${e.message}`));
})();

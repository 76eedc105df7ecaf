import { useState } from 'react'
import { api, type UsageSeries, unwrap } from '../api/client'
import { ErrorText } from '../components/ui'
import { formatBytes, formatDate, formatDay, percent } from '../lib/format'
import { useLoad } from '../lib/hooks'

type Range = 'period' | '30d' | '90d'

export function UsagePage() {
  const [range, setRange] = useState<Range>('period')
  const account = useLoad(() => unwrap(api.GET('/api/v1/account')), [])
  const series = useLoad(() => {
    if (range === 'period') return unwrap(api.GET('/api/v1/usage/series', { params: { query: { bucket: 'day' } } }))
    const days = range === '30d' ? 30 : 90
    const to = new Date()
    const from = new Date(to.getTime() - days * 86_400_000)
    return unwrap(api.GET('/api/v1/usage/series', { params: { query: { bucket: 'day', from: from.toISOString(), to: to.toISOString() } } }))
  }, [range])
  const statements = useLoad(() => unwrap(api.GET('/api/v1/billing/statements')), [])
  const a = account.data
  const current = statements.data?.statements[0]

  return (
    <div className="page">
      <h1>Usage &amp; billing</h1>
      <ErrorText error={account.error ?? series.error ?? statements.error} />
      {a && (
        <div className="stats">
          <div className="card stat">
            <h2>Stored now</h2>
            <p className="big">{formatBytes(a.storedBytes)}</p>
            {a.quotaStorageBytes ? (
              <p className="muted">
                of {formatBytes(a.quotaStorageBytes)} quota ({percent(a.storedBytes, a.quotaStorageBytes).toFixed(0)}%)
              </p>
            ) : (
              <p className="muted">no storage quota</p>
            )}
          </div>
          <div className="card stat">
            <h2>This period</h2>
            <p className="big">{a.usage.storageGbHours.toFixed(3)} GB·h</p>
            <p className="muted">
              period {a.usage.period}: {formatDate(a.usage.from)} – {formatDate(a.usage.to)}
            </p>
          </div>
          <div className="card stat">
            <h2>Egress this period</h2>
            <p className="big">{formatBytes(a.usage.downloadedBytes)}</p>
            <p className="muted">uploaded {formatBytes(a.usage.uploadedBytes)} · {a.usage.requests.toLocaleString()} requests</p>
          </div>
          {current && (
            <div className="card stat">
              <h2>Charges so far</h2>
              <p className="big">
                {current.total} {current.currency}
              </p>
              <p className="muted">
                storage {current.storage} · egress {current.egress}
              </p>
            </div>
          )}
        </div>
      )}

      <section className="card" aria-labelledby="chart-title">
        <div className="details-head">
          <h2 id="chart-title">Storage over time</h2>
          <label>
            Range{' '}
            <select value={range} onChange={(e) => setRange(e.target.value as Range)}>
              <option value="period">current billing period</option>
              <option value="30d">last 30 days</option>
              <option value="90d">last 90 days</option>
            </select>
          </label>
        </div>
        {series.data && <UsageChart series={series.data} />}
      </section>

      <section aria-labelledby="statements-title">
        <h2 id="statements-title">Statements</h2>
        {statements.data && (
          <p className="muted">
            Prices: {statements.data.prices.storagePerGbMonth} {statements.data.currency} per GB-month stored, {statements.data.prices.egressPerGb}{' '}
            {statements.data.currency} per GB downloaded, minimum charge {statements.data.prices.minimumCharge}.
          </p>
        )}
        <div className="table-wrap">
          <table>
            <thead>
              <tr>
                <th scope="col">Period</th>
                <th scope="col">Dates</th>
                <th scope="col">Status</th>
                <th scope="col" className="num">
                  GB-months
                </th>
                <th scope="col" className="num hide-narrow">
                  Egress
                </th>
                <th scope="col" className="num">
                  Total
                </th>
                <th scope="col" className="num">
                  Due
                </th>
              </tr>
            </thead>
            <tbody>
              {statements.data?.statements.map((s) => (
                <tr key={s.period}>
                  <td>{s.period}</td>
                  <td>
                    {formatDay(s.start)} – {formatDay(s.end)}
                  </td>
                  <td>
                    <span className={`badge badge-${s.status}`}>{s.status}</span>
                  </td>
                  <td className="num">{s.usage.storageGbMonths}</td>
                  <td className="num hide-narrow">{formatBytes(s.usage.downloadedBytes)}</td>
                  <td className="num">{s.total}</td>
                  <td className="num">
                    {s.amountDue} {s.currency}
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      </section>
    </div>
  )
}

const W = 720
const H = 240
const PAD = { left: 64, right: 16, top: 16, bottom: 32 }

/** Stored bytes per day as an area line, egress per day as bars; plain SVG, no library. */
function UsageChart({ series }: { series: UsageSeries }) {
  const points = series.points
  if (points.length === 0) return <p className="muted">No data for this range.</p>
  const maxStored = Math.max(1, ...points.map((p) => p.storedBytes))
  const maxEgress = Math.max(1, ...points.map((p) => p.downloadedBytes))
  const innerW = W - PAD.left - PAD.right
  const innerH = H - PAD.top - PAD.bottom
  const step = innerW / points.length
  const x = (i: number) => PAD.left + i * step + step / 2
  const y = (v: number) => PAD.top + innerH - (v / maxStored) * innerH
  // the line stops at today: buckets still in the future have no value yet
  const past = points.filter((p) => Date.parse(p.start) <= Date.now())
  const line = past.map((p, i) => `${i === 0 ? 'M' : 'L'}${x(i).toFixed(1)},${y(p.storedBytes).toFixed(1)}`).join(' ')
  const area = past.length === 0 ? '' : `${line} L${x(past.length - 1).toFixed(1)},${PAD.top + innerH} L${x(0).toFixed(1)},${PAD.top + innerH} Z`
  const nothingStored = past.every((p) => p.storedBytes === 0)
  const labelEvery = Math.max(1, Math.ceil(points.length / 8))
  const latest = past.at(-1)
  return (
    <figure className="chart">
      <svg viewBox={`0 0 ${W} ${H}`} role="img" aria-labelledby="chart-desc" preserveAspectRatio="xMidYMid meet">
        <desc id="chart-desc">
          Stored bytes per day from {formatDay(series.from)} to {formatDay(series.to)}; peak {formatBytes(maxStored)}.
        </desc>
        {[0, 0.5, 1].map((f) => (
          <g key={f}>
            <line className="grid" x1={PAD.left} x2={W - PAD.right} y1={y(maxStored * f)} y2={y(maxStored * f)} />
            {!nothingStored && (
              <text className="axis" x={PAD.left - 6} y={y(maxStored * f) + 4} textAnchor="end">
                {formatBytes(maxStored * f)}
              </text>
            )}
          </g>
        ))}
        {points.map((p, i) => (
          <rect
            key={p.start}
            className="egress"
            x={x(i) - step * 0.3}
            width={step * 0.6}
            y={PAD.top + innerH - (p.downloadedBytes / maxEgress) * innerH * 0.3}
            height={(p.downloadedBytes / maxEgress) * innerH * 0.3}
          >
            <title>
              {formatDay(p.start)}: {formatBytes(p.downloadedBytes)} downloaded
            </title>
          </rect>
        ))}
        {area && <path className="area" d={area} />}
        {line && <path className="line" d={line} />}
        {nothingStored && (
          <text className="axis" x={PAD.left + innerW / 2} y={PAD.top + innerH / 2} textAnchor="middle">
            No storage sampled in this range yet (usage is sampled periodically)
          </text>
        )}
        {points.map((p, i) =>
          i % labelEvery === 0 ? (
            <text key={p.start} className="axis" x={x(i)} y={H - 10} textAnchor="middle">
              {formatDay(p.start)}
            </text>
          ) : null,
        )}
      </svg>
      <figcaption>
        <span className="legend legend-stored" /> stored (daily average) <span className="legend legend-egress" /> egress (relative)
        {latest ? ` · latest: ${formatBytes(latest.storedBytes)} stored` : ''}
      </figcaption>
    </figure>
  )
}

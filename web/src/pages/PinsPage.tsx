import { api } from '../api/client'
import type { UnderReplicatedPin } from '../api/cluster'
import { CopyButton, ErrorText } from '../components/ui'
import { formatDate } from '../lib/format'
import { useLiveReload } from '../lib/events'
import { useLoad } from '../lib/hooks'

export function PinsPage() {
  const pins = useLoad(async () => {
    const { data, response } = await api.GET('/api/v1/pins', { params: { query: { status: 'under-replicated' } } })
    if (!response.ok) throw new Error(`pins unavailable (HTTP ${response.status})`)
    return (data as unknown as { pins: UnderReplicatedPin[] }).pins
  }, [])
  // pin reports arrive as events; health and last-seen have none, so a slow poll stays
  useLiveReload(pins.reload, (event) => event.type === 'pin-status', 2000, 10_000)
  return (
    <div className="page">
      <h1>Pins needing attention</h1>
      <p className="lead">
        Pins with fewer copies than their minimum, with the reason (failed transfers show here with their cause). Updated live as nodes report.
      </p>
      <ErrorText error={pins.error} />
      <div className="table-wrap">
        <table>
          <thead>
            <tr>
              <th scope="col">CID</th>
              <th scope="col" className="num">
                Copies
              </th>
              <th scope="col" className="num">
                Wanted
              </th>
              <th scope="col">Reason</th>
              <th scope="col" className="hide-narrow">
                Since
              </th>
            </tr>
          </thead>
          <tbody>
            {pins.data?.length === 0 && (
              <tr>
                <td colSpan={5} className="empty">
                  Every pin has at least its minimum number of copies.
                </td>
              </tr>
            )}
            {pins.data?.map((pin) => (
              <tr key={pin.cid}>
                <td className="cid-row">
                  <code className="wrap">{pin.cid}</code> <CopyButton text={pin.cid} label="Copy CID" />
                </td>
                <td className="num">{pin.copies}</td>
                <td className="num">
                  {pin.wanted} <span className="muted">(min {pin.replicationMin === -1 ? 'all' : pin.replicationMin})</span>
                </td>
                <td>{pin.reason}</td>
                <td className="hide-narrow">{formatDate(pin.since)}</td>
              </tr>
            ))}
          </tbody>
        </table>
      </div>
    </div>
  )
}

/** The accounting boundary, stated with every report (docs/REPORT.md, docs/FACTORS.md). */
export const BOUNDARY_NOTE =
  "Accounting boundary. active: the energy of the engine's accelerators while serving these requests; " +
  "no idle capacity, host CPU/DRAM or facility overhead (PUE). comprehensive: active + the requests' " +
  'share of idle energy + host energy, times PUE; shown only from records that carry it, and never ' +
  'added to active. Neither includes training, embodied emissions of the hardware, networking beyond ' +
  'the host or end-user devices. One request uses little energy; totals scale with the number of ' +
  'requests and users, so read the totals over a period, not a single query.';

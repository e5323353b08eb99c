"""Writes bike_sharing.csv beside this file (run: python specs/bike_demand/make_data.py).

A synthetic stand-in for the bike-sharing demand table (the real one needs a download):
1,000 hours with the 12 feature columns the spec reads, season, year, month, hour,
holiday, weekday, workingday, weather (1 clear .. 4 heavy rain), temp, atemp (felt
temperature, scaled 0..1), humidity and windspeed (0..1), and the target column
`count`, drawn from a Poisson law whose rate follows a documented demand model: commuter
peaks at 8 and 17-18 h on working days, a midday hump on free days, more riders in
warm, dry, calm hours and in the second year. Counts are non-negative and span orders of
magnitude (a few at night, several hundred at peaks), as in the original. Deterministic
(seeded)."""
import os

import numpy as np

n = 1000
rng = np.random.default_rng(0)
day = rng.integers(0, 730, n)  # two years
year = day // 365
month = (day % 365) // 31 + 1
season = (month % 12) // 3 + 1  # 1 winter .. 4 autumn
hour = rng.integers(0, 24, n)
weekday = day % 7
holiday = (rng.random(n) < 0.03).astype(int)
workingday = ((weekday < 5) & (holiday == 0)).astype(int)
weather = rng.choice([1, 2, 3, 4], n, p=[0.65, 0.26, 0.085, 0.005])
temp = np.clip(0.5 - 0.3 * np.cos(2 * np.pi * (day % 365) / 365) + rng.normal(0, 0.08, n), 0.02, 1)
atemp = np.clip(temp + rng.normal(0, 0.03, n), 0, 1)
humidity = np.clip(0.6 + 0.1 * (weather - 1) + rng.normal(0, 0.15, n), 0, 1)
windspeed = np.clip(rng.gamma(2.0, 0.08, n), 0, 0.85)
commute = np.exp(-(hour - 8) ** 2 / 2) + 1.2 * np.exp(-(hour - 17.5) ** 2 / 2)
leisure = np.exp(-(hour - 14) ** 2 / 12)
shape = np.where(workingday == 1, 0.03 + commute, 0.02 + leisure)
rate = (400 * shape * (0.4 + temp) * (1 - 0.25 * (weather - 1)) * (1.15 - 0.5 * humidity)
        * (1 - 0.5 * windspeed) * (1 + 0.6 * year))
count = rng.poisson(np.maximum(rate, 0.5))
cols = {"season": season, "year": year, "month": month, "hour": hour, "holiday": holiday, "weekday": weekday,
        "workingday": workingday, "weather": weather, "temp": temp, "atemp": atemp, "humidity": humidity,
        "windspeed": windspeed, "count": count}
with open(os.path.join(os.path.dirname(os.path.abspath(__file__)), "bike_sharing.csv"), "w",
          encoding="utf-8", newline="\n") as f:
    f.write(",".join(cols) + "\n")
    for i in range(n):
        f.write(",".join(f"{c[i]:.4f}" if c.dtype.kind == "f" else str(c[i]) for c in cols.values()) + "\n")

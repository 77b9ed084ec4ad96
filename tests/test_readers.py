"""Track, event and site readers: formats, aliases, coordinate systems, and errors that name the place."""

import json

import numpy as np
import pandas as pd
import pytest

from geoverify.errors import InputError
from geoverify.geo.chinacrs import from_wgs84
from geoverify.io import read_events, read_sites, read_track_file, read_tracks

LON, LAT = 116.4, 39.9


def write(path, text):
    path.write_text(text, encoding="utf-8")
    return path


def test_csv_spec_columns(tmp_path):
    path = write(
        tmp_path / "a.csv",
        "member_id,time,lon,lat,accuracy,speed,provider,mock,device_id\n"
        f"M1,2026-11-02T08:00:00+08:00,{LON},{LAT},8.5,1.2,gps,false,D1\n"
        f"M1,2026-11-02T08:00:10.250+08:00,{LON},{LAT},12,,network,true,D1\n",
    )
    fixes = read_tracks(path)
    assert fixes["member_id"].tolist() == ["M1", "M1"]
    assert fixes["time"].iloc[1] - fixes["time"].iloc[0] == pd.Timedelta(seconds=10.25)
    assert fixes["accuracy"].tolist() == [8.5, 12.0]
    assert np.isnan(fixes["speed"].iloc[1])
    assert fixes["mock"].tolist() == [False, True]
    assert fixes["provider"].tolist() == ["gps", "network"]
    assert fixes["line"].tolist() == [2, 3]


def test_semicolon_csv_with_aliases(tmp_path):
    path = write(
        tmp_path / "posmo.csv",
        f"user_id;tracked_at;latitude;longitude;accuracy\nu7;2026-11-02 08:00:00.123;{LAT};{LON};5\n",
    )
    fixes = read_tracks(path)
    assert fixes["member_id"].tolist() == ["u7"]
    assert fixes[["lon", "lat"]].iloc[0].tolist() == [LON, LAT]
    assert fixes["time"].iloc[0] == pd.Timestamp("2026-11-02T00:00:00.123Z")


def test_unparseable_values_become_invalid_not_errors(tmp_path):
    path = write(
        tmp_path / "bad.csv",
        "member_id,time,lon,lat\n"
        f"M1,yesterday,{LON},{LAT}\n"
        f"M1,2026-11-02T08:00:00+08:00,east,{LAT}\n"
        "M1,2026-11-02T08:00:10+08:00,NaN,inf\n"
        f"M1,2026-11-02T08:00:20+08:00,{LON},{LAT},extra,fields\n"
        f"M1,2026-11-02T08:00:30+08:00,{LON},{LAT}\n",
    )
    fixes = read_tracks(path).sort_values("line")
    assert fixes["line"].tolist() == [2, 3, 4, 5, 6]  # nothing dropped: the ragged line 5 is a row too
    assert fixes["time"].isna().tolist() == [True, False, False, True, False]
    assert np.isnan(fixes["lon"].tolist()).tolist() == [False, True, True, True, False]


def test_missing_column_names_the_file_and_columns(tmp_path):
    path = write(tmp_path / "x.csv", "member_id,time,lon\nM1,2026-11-02T08:00:00Z,116\n")
    with pytest.raises(InputError, match=r"x\.csv: track file lacks required column\(s\) lat"):
        read_tracks(path)


def test_gcj02_declared_on_the_command_line_is_converted(tmp_path):
    glon, glat = from_wgs84(LON, LAT, "gcj02")
    path = write(tmp_path / "g.csv", f"member_id,time,lon,lat\nM1,2026-11-02T08:00:00Z,{glon.item()},{glat.item()}\n")
    fixes = read_tracks(path, crs="gcj02")
    assert fixes["lon"].iloc[0] == pytest.approx(LON, abs=1e-8)
    assert fixes["lat"].iloc[0] == pytest.approx(LAT, abs=1e-8)
    assert fixes["crs"].iloc[0] == "gcj02"


def test_bd09_declared_per_row(tmp_path):
    blon, blat = from_wgs84(LON, LAT, "bd09")
    path = write(
        tmp_path / "b.csv",
        "member_id,time,lon,lat,crs\n"
        f"M1,2026-11-02T08:00:00Z,{blon.item()},{blat.item()},bd09\n"
        f"M1,2026-11-02T08:00:10Z,{LON},{LAT},wgs84\n",
    )
    fixes = read_tracks(path)
    np.testing.assert_allclose(fixes["lon"], [LON, LON], atol=1e-8)
    np.testing.assert_allclose(fixes["lat"], [LAT, LAT], atol=1e-8)


GPX = """<?xml version="1.0" encoding="UTF-8"?>
<gpx version="1.1" creator="test" xmlns="http://www.topografix.com/GPX/1/1">
  <trk><trkseg>
    <trkpt lat="39.9" lon="116.4"><time>2026-11-02T00:00:00Z</time></trkpt>
    <trkpt lat="39.9001" lon="116.4001"><time>2026-11-02T00:00:10Z</time>
      <extensions><accuracy>7.5</accuracy></extensions></trkpt>
  </trkseg></trk>
</gpx>
"""


def test_gpx_member_from_file_stem_and_lines(tmp_path):
    fixes = read_track_file(write(tmp_path / "M042.gpx", GPX))
    assert fixes["member_id"].tolist() == ["M042", "M042"]
    assert fixes["line"].tolist() == [4, 5]
    assert fixes["accuracy"].iloc[1] == 7.5
    assert read_track_file(tmp_path / "M042.gpx", member_id="M7")["member_id"].iloc[0] == "M7"


@pytest.mark.parametrize(
    "doctype",
    [
        '<!DOCTYPE gpx [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;">]>',
        '<!DOCTYPE gpx [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>',
    ],
    ids=["billion-laughs", "external-entity"],
)
def test_gpx_with_entities_is_refused(tmp_path, doctype):
    text = GPX.replace("<gpx version", doctype + "\n<gpx version", 1)
    with pytest.raises(InputError, match="refused: the GPX declares a DTD"):
        read_track_file(write(tmp_path / "evil.gpx", text))


def test_gpx_not_well_formed_names_the_line(tmp_path):
    with pytest.raises(InputError, match=r"bad\.gpx, line 4: not well-formed"):
        read_track_file(write(tmp_path / "bad.gpx", GPX.replace("</trkpt>", "</trkpoint>", 1)))


def test_geojson_points(tmp_path):
    doc = {
        "type": "FeatureCollection",
        "features": [
            {
                "type": "Feature",
                "geometry": {"type": "Point", "coordinates": [LON, LAT]},
                "properties": {"member_id": "M1", "time": "2026-11-02T08:00:00+08:00", "accuracy": 4},
            },
            {
                "type": "Feature",
                "geometry": None,
                "properties": {"member_id": "M1", "time": "2026-11-02T08:00:10+08:00"},
            },
        ],
    }
    fixes = read_tracks(write(tmp_path / "p.geojson", json.dumps(doc)))
    assert fixes["lon"].iloc[0] == LON and np.isnan(fixes["lon"].iloc[1])
    assert fixes["line"].tolist() == [1, 2]


def test_geojson_wrong_geometry_names_the_feature(tmp_path):
    doc = {
        "type": "FeatureCollection",
        "features": [
            {
                "type": "Feature",
                "geometry": {"type": "LineString", "coordinates": [[LON, LAT], [LON, LAT]]},
                "properties": {},
            }
        ],
    }
    with pytest.raises(InputError, match=r"feature 1: geometry is LineString"):
        read_tracks(write(tmp_path / "l.geojson", json.dumps(doc)))


def test_parquet_and_folder(tmp_path):
    frame = pd.DataFrame(
        {"member_id": ["M1", "M2"], "time": ["2026-11-02T08:00:00+08:00"] * 2, "lon": [LON, LON], "lat": [LAT, LAT]}
    )
    frame.to_parquet(tmp_path / "a.parquet")
    write(tmp_path / "b.csv", f"member_id,time,lon,lat\nM3,2026-11-02T08:00:00+08:00,{LON},{LAT}\n")
    write(tmp_path / "README.md", "not a track")
    fixes = read_tracks(tmp_path)
    assert fixes["member_id"].tolist() == ["M1", "M2", "M3"]


def test_events_and_sites(tmp_path):
    events = read_events(
        write(
            tmp_path / "e.csv",
            f"event_id,member_id,time,lon,lat,category\nE1,M1,2026-11-02 09:00:00,{LON},{LAT},litter\n",
        )
    )
    assert events["time"].iloc[0] == pd.Timestamp("2026-11-02T01:00:00Z")
    sites = read_sites(write(tmp_path / "s.csv", f"site_id,grid_id,lon,lat,tier\nS1,G1,{LON},{LAT},Red\n"))
    assert sites["tier"].tolist() == ["red"]


def test_bad_event_names_the_line(tmp_path):
    path = write(
        tmp_path / "e.csv",
        "event_id,member_id,time,lon,lat,category\n"
        f"E1,M1,2026-11-02 09:00:00,{LON},{LAT},litter\n"
        f"E2,M1,not a time,{LON},{LAT},litter\n",
    )
    with pytest.raises(InputError, match=r"e\.csv, line 3: event time is not an ISO 8601 time"):
        read_events(path)


def test_event_ids_are_each_members_own(tmp_path):
    header = "event_id,member_id,time,lon,lat,category\n"
    events = read_events(
        write(
            tmp_path / "e.csv",
            header + f"E1,M1,2026-11-02 09:00:00,{LON},{LAT},litter\nE1,M2,2026-11-02 09:05:00,{LON},{LAT},litter\n",
        )
    )
    assert list(zip(events["event_id"], events["member_id"])) == [("E1", "M1"), ("E1", "M2")]
    path = write(
        tmp_path / "f.csv",
        header + f"E1,M1,2026-11-02 09:00:00,{LON},{LAT},litter\nE1,M1,2026-11-02 09:05:00,{LON},{LAT},litter\n",
    )
    with pytest.raises(InputError, match=r"f\.csv, line 3: event_id repeats an earlier event of the same member"):
        read_events(path)


def test_bad_site_tier_names_the_line(tmp_path):
    path = write(tmp_path / "s.csv", f"site_id,grid_id,lon,lat,tier\nS1,G1,{LON},{LAT},purple\n")
    with pytest.raises(InputError, match=r"s\.csv, line 2: tier must be one of red, yellow, green"):
        read_sites(path)


def _lines(rows):
    return "member_id,time,lon,lat,mock\n" + "".join(f"M1,{t},{LON},{LAT},{m}\n" for t, m in rows)


@pytest.mark.parametrize("late", ["2026-11-02 08:30:00", "not a time", ""], ids=["naive", "garbage", "empty"])
def test_fast_time_path_falls_back_when_a_later_time_has_no_offset(tmp_path, late):
    # The first 250 lines carry offsets (pyarrow parses them directly); line 253 does not.
    rows = [(f"2026-11-02T08:{i // 60:02d}:{i % 60:02d}+08:00", "false") for i in range(250)]
    rows.append((late, "false"))
    fixes = read_tracks(write(tmp_path / "t.csv", _lines(rows)))
    assert len(fixes) == 251
    assert fixes["time"].iloc[249] == pd.Timestamp("2026-11-02T00:04:09Z")
    last = fixes["time"].iloc[250]
    if late.startswith("2026"):
        assert last == pd.Timestamp("2026-11-02T00:30:00Z")  # read in Asia/Shanghai
    else:
        assert pd.isna(last)


def test_fast_mock_path_and_other_spellings(tmp_path):
    rows = [("2026-11-02T08:00:00Z", m) for m in ("true", "False", "1", "0", "Y", "n", "")]
    fixes = read_tracks(write(tmp_path / "m.csv", _lines(rows)))
    assert fixes["mock"].tolist() == [True, False, True, False, True, False, pd.NA]
    # A spelling outside the fast list ("oui") after the sniffed lines: the file is read again as
    # text, and "oui" is neither true nor false.
    fixes = read_tracks(write(tmp_path / "m2.csv", _lines(rows * 40 + [("2026-11-02T08:00:10Z", "oui")])))
    assert len(fixes) == 281
    assert fixes["mock"].iloc[-8:].tolist() == [True, False, True, False, True, False, pd.NA, pd.NA]
    assert fixes["time"].iloc[-1] == pd.Timestamp("2026-11-02T08:00:10Z")


def test_folder_of_mixed_files_joins_member_and_device_labels(tmp_path):
    # Member, provider and device ids are categorical; files with different ids (and one without
    # provider or device columns) join into one table with every id kept.
    write(
        tmp_path / "a.csv",
        "member_id,time,lon,lat,provider,device_id\n"
        f" M1 ,2026-11-02T08:00:00+08:00,{LON},{LAT},gps,D1\n"
        f",2026-11-02T08:00:10+08:00,{LON},{LAT},,D1\n",
    )
    write(tmp_path / "b.csv", f"user_id;tracked_at;lat;lon\nM2;2026-11-02 08:00:00;{LAT};{LON}\n")
    fixes = read_tracks(tmp_path)
    assert fixes["member_id"].tolist()[0] == "M1"  # stripped
    assert pd.isna(fixes["member_id"].iloc[1])  # empty is missing
    assert fixes["member_id"].iloc[2] == "M2"
    assert fixes["provider"].tolist()[0] == "gps" and fixes["provider"].isna().tolist()[1:] == [True, True]
    assert fixes["device_id"].tolist()[:2] == ["D1", "D1"] and pd.isna(fixes["device_id"].iloc[2])


@pytest.mark.parametrize("flaw", ["none", "ragged", "bad_number"])
def test_csv_read_in_blocks_keeps_every_line(tmp_path, monkeypatch, flaw):
    # Small blocks (about 40 lines each): a large file is read block by block, and lines, member
    # ids and values survive the joins; a ragged line or a bad number in a late block still
    # gives every other fix with its own line number.
    import geoverify.io.csv_points as csv_points

    monkeypatch.setattr(csv_points, "_CSV_BLOCK_BYTES", 4096)
    rows = [
        f"M{1 + i // 200},2026-11-02T08:{i // 60 % 60:02d}:{i % 60:02d}+08:00,{LON + i * 1e-5:.5f},{LAT},5"
        for i in range(600)
    ]
    if flaw == "ragged":
        rows[497] = "M9,broken"
    if flaw == "bad_number":
        rows[497] = rows[497][:-1] + "n/a"
    fixes = read_tracks(write(tmp_path / "big.csv", "member_id,time,lon,lat,accuracy\n" + "\n".join(rows) + "\n"))
    assert len(fixes) == 600
    assert sorted(fixes["line"].tolist()) == list(range(2, 602))
    by_line = fixes.set_index("line")
    assert by_line.loc[2, "member_id"] == "M1" and by_line.loc[601, "member_id"] == "M3"
    assert by_line.loc[600, "lon"] == pytest.approx(LON + 598e-5)
    assert by_line.loc[600, "time"] == pd.Timestamp("2026-11-02T00:09:58Z")
    if flaw == "ragged":
        assert pd.isna(by_line.loc[499, "time"]) and pd.isna(by_line.loc[499, "member_id"])
    elif flaw == "bad_number":
        assert np.isnan(by_line.loc[499, "accuracy"]) and by_line.loc[499, "member_id"] == "M3"
    else:
        assert by_line.loc[499, "accuracy"] == 5.0


def test_geoparquet_points_decoded_from_wkb(tmp_path):
    # Little-endian WKB points (the GeoParquet default) are read straight from the bytes; a null
    # or big-endian geometry takes the general path; both give the same coordinates.
    import shapely

    points = shapely.points([LON, LON + 0.001, LON + 0.002], [LAT, LAT + 0.001, LAT - 0.001])
    base = {
        "member_id": ["M1", "M1", "M2"],
        "time": ["2026-11-02T08:00:00+08:00", "2026-11-02T08:00:10+08:00", "2026-11-02T08:00:00+08:00"],
    }
    pd.DataFrame({**base, "geometry": shapely.to_wkb(points)}).to_parquet(tmp_path / "le.parquet")
    pd.DataFrame({**base, "geometry": shapely.to_wkb(points, byte_order=0)}).to_parquet(tmp_path / "be.parquet")
    with_null = list(shapely.to_wkb(points))
    with_null[1] = None
    pd.DataFrame({**base, "geometry": with_null}).to_parquet(tmp_path / "null.parquet")
    expected_lon = [LON, LON + 0.001, LON + 0.002]
    for name in ("le", "be"):
        fixes = read_tracks(tmp_path / f"{name}.parquet")
        assert fixes["lon"].tolist() == expected_lon
        assert fixes["lat"].tolist() == [LAT, LAT + 0.001, LAT - 0.001]
        assert fixes["member_id"].tolist() == ["M1", "M1", "M2"]
    fixes = read_tracks(tmp_path / "null.parquet")
    assert np.isnan(fixes["lon"].iloc[1]) and fixes["lon"].iloc[2] == LON + 0.002
    lines = shapely.to_wkb([shapely.Point(LON, LAT), shapely.LineString([(LON, LAT), (LON, LAT + 0.01)])])
    pd.DataFrame({"member_id": ["M1", "M1"], "time": base["time"][:2], "geometry": lines}).to_parquet(
        tmp_path / "l.parquet"
    )
    with pytest.raises(InputError, match="not a Point") as err:
        read_tracks(tmp_path / "l.parquet")
    assert "2" in str(err.value)

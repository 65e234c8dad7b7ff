"""DICOM files the tests write: pixels, technical tags, and fake PHI that must never leave the reader."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from pydicom.dataset import FileDataset, FileMetaDataset
from pydicom.uid import CTImageStorage, ExplicitVRLittleEndian, generate_uid

FAKE_PHI = {
    "PatientName": "Doe^Janet^Quincy",
    "PatientID": "MRN-7731942",
    "PatientBirthDate": "19580214",
    "AccessionNumber": "ACC55519",
    "InstitutionName": "St Elsewhere Memorial",
    "ReferringPhysicianName": "Kildare^Gregory",
    "OperatorsName": "Nightingale^Florence",
    "StudyDate": "20210304",
    "SeriesDate": "20210304",
    "StudyTime": "101530",
    "StationName": "CTSTATION77",
    "StudyID": "STUDY4242",
    "OtherPatientIDs": "OTHERID9911",
}
# Strings that must not appear anywhere downstream (case-insensitive).
PHI_STRINGS = ["Janet", "Quincy", "7731942", "19580214", "ACC55519", "Elsewhere", "Memorial", "Kildare",
               "Gregory", "Nightingale", "Florence", "20210304", "CTSTATION77", "STUDY4242", "OTHERID9911",
               "2021-03-04", "Doe"]


def write_dicom(path: Path, pixels: np.ndarray, *, photometric: str = "MONOCHROME2", bits_stored: int | None = None,
                phi: bool = True, syntax=ExplicitVRLittleEndian, **tags) -> Path:
    """A DICOM file holding `pixels` (frames x rows x cols for multi-frame), with fake PHI."""
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = CTImageStorage
    meta.MediaStorageSOPInstanceUID = generate_uid()
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds = FileDataset(str(path), {}, file_meta=meta, preamble=b"\0" * 128)
    ds.SOPClassUID, ds.SOPInstanceUID = CTImageStorage, meta.MediaStorageSOPInstanceUID
    ds.Modality, ds.BodyPartExamined = "CT", "CHEST"
    for key, value in (FAKE_PHI if phi else {}).items():
        setattr(ds, key, value)
    frames = pixels.ndim == 4 or (pixels.ndim == 3 and photometric in ("MONOCHROME1", "MONOCHROME2"))
    ds.set_pixel_data(pixels, photometric_interpretation=photometric,
                      bits_stored=bits_stored or pixels.dtype.itemsize * 8)
    if not frames and "NumberOfFrames" in ds:
        del ds.NumberOfFrames
    for key, value in tags.items():
        setattr(ds, key, value)
    if syntax != ExplicitVRLittleEndian:
        ds.compress(syntax)
    path.parent.mkdir(parents=True, exist_ok=True)
    ds.save_as(path, enforce_file_format=True)
    return path

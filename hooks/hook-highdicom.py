"""PyInstaller hook for highdicom (no hook ships for it): its tables of the DICOM standard (_standard/*.json, about
22 MB) and its ICC profile are data files read at run time, which import analysis does not see. Without them every
measurement SR fails in the binary ("highdicom/_standard/sop_class_iod_map.json: No such file or directory")."""

from PyInstaller.utils.hooks import collect_data_files

datas = collect_data_files("highdicom")

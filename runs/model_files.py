"""Where a run's exported model lives: <run_dir>/model/ and the names inside it."""

MODEL_DIR = "model"
KERAS_FILE = "model.keras"
SAVED_MODEL_DIR = "saved_model"
META_FILE = "meta.json"
SIGNATURE = "serving_default"  # the SavedModel signature: raw features in
INPUT_NAME = "features"
OUTPUTS = ("probabilities", "class_index", "class_name")

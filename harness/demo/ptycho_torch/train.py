"""PyTorch-side training entry point of the demo target.

Read statically (with ``ast``) by callchain; never imported or run. It only
mirrors where a Lightning/MLflow training script persists its state.
"""

import os

import lightning as L
import mlflow
from lightning.pytorch.callbacks import EarlyStopping, ModelCheckpoint

LAST_CHECKPOINT = "last.ckpt"


class PtychoModule(L.LightningModule):
    """LightningModule wrapping a network; its init arguments become hparams."""

    def __init__(self, network, N=64, gridsize=1, learning_rate=1e-3):
        super().__init__()
        self.save_hyperparameters(ignore=["network"])
        self.network = network

    def forward(self, diffraction):
        return self.network(diffraction)

    def training_step(self, batch, batch_idx):
        diffraction, target = batch
        loss = (self(diffraction) - target).abs().mean()
        self.log("train_loss", loss)
        return loss

    def configure_optimizers(self):
        return self.network.make_optimizer(self.hparams.learning_rate)


def build_trainer(output_dir, max_epochs=50):
    """Lightning trainer with a checkpoint callback writing under ``output_dir``."""
    checkpoint = ModelCheckpoint(
        dirpath=os.path.join(output_dir, "checkpoints"),
        filename="best-{epoch}",
        monitor="train_loss",
        save_top_k=1,
        save_last=True,
    )
    return L.Trainer(
        max_epochs=max_epochs,
        callbacks=[checkpoint, EarlyStopping(monitor="train_loss", patience=5)],
        default_root_dir=output_dir,
    )


def main(module, datamodule, output_dir, experiment="ptycho-demo"):
    """Train under an MLflow run; return the path of the last checkpoint."""
    mlflow.pytorch.autolog()
    mlflow.set_experiment(experiment)
    with mlflow.start_run():
        trainer = build_trainer(output_dir)
        trainer.fit(module, datamodule=datamodule)
    return os.path.join(output_dir, "checkpoints", LAST_CHECKPOINT)

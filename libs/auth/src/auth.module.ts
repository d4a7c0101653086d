import { Module } from '@nestjs/common';
import { AuthService } from './auth.service';
import { BootstrapService } from './bootstrap.service';

@Module({ providers: [AuthService, BootstrapService], exports: [AuthService, BootstrapService] })
export class AuthModule {}
